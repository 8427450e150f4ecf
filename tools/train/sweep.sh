#!/usr/bin/env bash
# The one real training run: four settings side by side on one GPU (each run is bound by
# kernel launches, so they barely slow each other), then the lowest held-out loss, measured
# with the bf16 weights that ship, wins; its files go to $OUT.
#   OUT=/path/to/out bash tools/train/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:?set OUT}
WORK=$(mktemp -d)
run() {  # name dropout steps
  timeout 470 python3 tools/train/train.py --data tools/train/data --tokenizer src/models/default/tokenizer.json \
    --out "$WORK/$1" --dropout "$2" --steps "$3" --eval-every 200 >"$WORK/$1.log" 2>&1 || true
}
run d0.1-s3000 0.1 3000 &
run d0.2-s4000 0.2 4000 &
run d0.3-s5000 0.3 5000 &
run d0.3-s3000 0.3 3000 &
wait
: >"$OUT/train-log.txt"
for log in "$WORK"/*.log; do
  { echo "== $(basename "$log" .log)"; cat "$log"; } >>"$OUT/train-log.txt"
done
best=$(grep -H 'f32 compute' "$WORK"/*.log | sed -E 's/^(.*)\.log:.*f32 compute: ([0-9.]+).*/\2 \1/' | sort -n | head -1 | cut -d' ' -f2)
echo "chosen: $(basename "$best")" | tee -a "$OUT/train-log.txt"
cp "$best"/* "$OUT/"
