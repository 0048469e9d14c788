#!/usr/bin/env bash
# Every Kodak image through the CLI and back; decoded PNGs compared byte for byte across 1 and 2 threads.
#   bash benchmarks/cli_roundtrip.sh [IMAGES_DIR] [QUALITY]
set -euo pipefail
images=${1:-../shared/data/kodak}
quality=${2:-50}
sdpic=${SDPIC:-.venv/bin/sdpic}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$sdpic" compress "$images"/*.png --out-dir "$work/streams" --quality "$quality" --threads 2 >/dev/null
"$sdpic" decompress "$work"/streams/*.sdpic --out-dir "$work/t1" --threads 1 >/dev/null
"$sdpic" decompress "$work"/streams/*.sdpic --out-dir "$work/t2" --threads 2 >/dev/null
n=0; same=0
for f in "$work"/t1/*.png; do
  n=$((n + 1))
  cmp -s "$f" "$work/t2/$(basename "$f")" && same=$((same + 1))
done
bytes=$(cat "$work"/streams/*.sdpic | wc -c)
echo "images: $n, decoded identically with 1 and 2 threads: $same, total stream bytes: $bytes"
[ "$n" -eq "$same" ]
