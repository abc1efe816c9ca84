"""Reading files safely: gzip, UTF-8 and line numbers; atomic writes.

Every reader error becomes a :class:`~overcoat.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataError

#: gzip input: refuse when the decompressed size passes this many bytes ...
MAX_DECOMPRESSED_BYTES = int(os.environ.get("OVERCOAT_MAX_DECOMPRESSED_BYTES", 8 << 30))
#: ... or when, past the first 16 MiB, it is more than this many times the compressed bytes read
#: (text compresses 3-20x; a "gzip bomb" of zeros about 1000x)
MAX_GZIP_RATIO = 200
_RATIO_AFTER = 16 << 20
_CHUNK = 1 << 20


def check_regular_file(path: str | os.PathLike) -> None:
    """A :class:`DataError` unless ``path`` is a regular file: a FIFO would block forever waiting
    for a writer, a device such as ``/dev/zero`` never ends."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError("file not found", path=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError("is a directory, expected a file", path=str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise DataError(
            f"is {kind}, not a regular file; overcoat reads data only from regular files",
            path=str(path),
        )


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by magic number, not only by name).

    Only regular files are read (no FIFOs or devices), and gzip input is decompressed in chunks
    with a cap on the size and the compression ratio, so a bomb fails within a second.
    """
    p = Path(path)
    check_regular_file(p)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise DataError("is a directory, expected a file", path=str(path)) from None
    except MemoryError:
        raise DataError("too large to read into memory", path=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path=str(path)) from None
    if raw[:2] == b"\x1f\x8b":
        return gunzip(raw, str(path))
    return raw


def gunzip(
    raw: bytes, path: str, *, max_bytes: int | None = None, max_ratio: float = MAX_GZIP_RATIO
) -> bytes:
    """Decompress (possibly multi-member) gzip ``raw`` in chunks, refusing a decompression bomb:
    more than ``max_bytes`` out, or past the first 16 MiB more than ``max_ratio`` times the
    compressed bytes consumed so far."""
    limit = MAX_DECOMPRESSED_BYTES if max_bytes is None else max_bytes
    out: list[bytes] = []
    total = 0
    base = 0  # offset of the current member in raw
    try:
        while base < len(raw):
            member = memoryview(raw)[base:]
            if bytes(member[:2]) != b"\x1f\x8b":
                break  # trailing padding / garbage after the last member: ignored, as gzip does
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            buf: bytes | memoryview = member
            while not d.eof:
                chunk = d.decompress(buf, _CHUNK)
                buf = d.unconsumed_tail
                out.append(chunk)
                total += len(chunk)
                consumed = base + len(member) - len(d.unconsumed_tail) - len(d.unused_data)
                if total > limit:
                    raise DataError(
                        f"gzip file decompresses to more than {limit} bytes; refused "
                        "(set OVERCOAT_MAX_DECOMPRESSED_BYTES to allow more)",
                        path=path,
                    )
                if total > _RATIO_AFTER and total > max_ratio * max(consumed, 1):
                    raise DataError(
                        f"gzip file expands more than {max_ratio:g}x "
                        f"({consumed} bytes to over {total}): refused as a "
                        "decompression bomb",
                        path=path,
                    )
                if not chunk and not buf and not d.eof:
                    raise DataError("truncated gzip file", path=path)
            base = len(raw) - len(d.unused_data)
    except zlib.error as e:
        raise DataError(f"corrupt gzip file ({e})", path=path) from None
    return b"".join(out)


def decode_text(raw: bytes, path: str) -> str:
    """Decode UTF-8 (a BOM is dropped); a bad byte gives the line it is on."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})", path=path, line=line
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: str | os.PathLike) -> str:
    return decode_text(read_bytes(path), str(path))


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without newline) for every line of a text file."""
    text = read_text(path)
    for n, line in enumerate(io.StringIO(text, newline=None), start=1):
        yield n, line.rstrip("\r\n")


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask sets and returns)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _final_mode(path: Path) -> int:
    """The mode an output gets: an existing file's own mode, else 0666 minus the user's umask
    (what ``open(path, "w")`` would give; ``mkstemp`` alone gives 0600)."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _write_error(path: Path, e: OSError) -> DataError:
    return DataError(f"cannot write ({e.strerror or type(e).__name__})", path=str(path))


def check_output_path(path: str | os.PathLike) -> None:
    """Fail now (a :class:`DataError`), not after the work, when ``path`` cannot be written:
    a directory, a device or other non-regular file, a folder that cannot be created, or one
    where no file can be created (read-only file system, permissions, ``/proc``)."""
    path = Path(path)
    folder = _check_output_kind(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=str(folder))
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise _write_error(path, e) from None


def _check_output_kind(path: Path) -> Path:
    """The checks of :func:`check_output_path` that need no file created: ``path`` is not a
    directory or other non-regular file, and its nearest existing folder is a folder (returned)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _write_error(path, e) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise DataError("is a directory; give a file name for the output", path=str(path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise DataError("exists and is not a regular file; refusing to replace it", path=str(path))
    # the nearest folder that exists must be a folder where a file can be created (folders
    # missing below it are created only when the output is written)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"cannot write: {folder} is not a directory", path=str(path))
    return folder


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any error the temporary file is removed and ``path`` is left as it was: no half-written
    output ever appears. The file gets the user's umask (or the replaced file's mode). An
    ``OSError`` (full disk, read-only file system ...) becomes a one-line :class:`DataError`.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            f = open(tmp, mode, encoding=None if "b" in mode else "utf-8")
        except OSError as e:
            raise _write_error(path, e) from None
        try:
            with f:
                yield f
        except OSError as e:
            raise _write_error(path, e) from None


def atomic_path(path: str | os.PathLike):
    """Context manager yielding a temporary path to write to; renamed to ``path`` on success."""
    return _AtomicPath(Path(path))


class _AtomicPath:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        # the kind checks only: creating the temporary file below is the probe for writability
        _check_output_kind(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=str(self.path.parent)
            )
            try:
                if hasattr(os, "fchmod"):  # POSIX (Windows has no modes to give)
                    os.fchmod(fd, _final_mode(self.path))
            finally:
                os.close(fd)
        except OSError as e:
            raise _write_error(self.path, e) from None
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                os.replace(self.tmp, self.path)
                return False
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.unlink(self.tmp)
                raise _write_error(self.path, e) from None
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
        if isinstance(exc, OSError) and not isinstance(exc, DataError):
            raise _write_error(self.path, exc) from None
        return False
