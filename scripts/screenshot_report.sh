#!/usr/bin/env bash
# docs/report.png: the top of the HTML report that `overcoat run` writes, as Debian's headless
# chromium shows it in a 1280 px wide window (under 300 KB).
#   scripts/screenshot_report.sh [RUN_DIR]
# RUN_DIR: an existing `overcoat run --out-dir` folder to re-render (default: run it now into a
# temporary folder). Needs overcoat on the path (pip install -e .) and /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
chromium=${CHROMIUM:-/usr/bin/chromium}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
# run in the temporary folder, so that the page's command line reads as a user would type it
if [[ $# -ge 1 ]]; then
  cp "$1/run.json" "$tmp/run.json"
  (cd "$tmp" && "$python" -m overcoat.cli report run.json --out report)
  page=$tmp/report/index.html
else
  (cd "$tmp" && "$python" -m overcoat.cli run -q)
  page=$tmp/overcoat-run/report/index.html
fi
"$chromium" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-quic --hide-scrollbars \
  --user-data-dir="$tmp/profile" --force-device-scale-factor=1 --window-size=1280,1100 \
  --screenshot="$tmp/shot.png" "file://$(realpath "$page")" 2>/dev/null
# re-encoded with the strongest PNG compression (Pillow, a matplotlib dependency)
"$python" - "$tmp/shot.png" docs/report.png <<'PY'
import sys

from PIL import Image

Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], optimize=True)
PY
ls -l docs/report.png
