"""Dataset.content_hash: the same data gives the same hash (reloaded, renamed); any change in
an item, a response or a judgment gives another."""

from dataclasses import replace

import pyarrow as pa

from overcoat import api


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.column_names.index(column)
    return table.set_column(i, table.field(i), pa.array(values, type=table.field(i).type))


def test_content_hash_follows_the_content_only():
    ds = api.load("hh-harmless").sample_items(30, seed=1)
    h = ds.content_hash()
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 16
    assert api.load("hh-harmless").sample_items(30, seed=1).content_hash() == h
    assert replace(ds, name="other", source="elsewhere", info={}).content_hash() == h
    changed = [
        replace(ds, items=_set(ds.items, "input", 3, "another prompt")),
        replace(
            ds, responses=_set(ds.responses, "text", 0, ds.responses.column("text")[1].as_py())
        ),
        ds.sample_items(29, seed=1),
    ]
    j = ds.judgments
    first = j.table.column("label")[0].as_py()
    flipped = _set(j.table, "label", 0, "b" if first != "b" else "a")  # the other response won
    changed.append(replace(ds, judgments=replace(j, table=flipped)))
    hashes = [c.content_hash() for c in changed]
    assert h not in hashes and len(set(hashes)) == len(hashes)
