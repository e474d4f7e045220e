#!/usr/bin/env bash
# Exact counting of linear regions against the grid sampler (paper E; issue 4's benchmark).
#
# For each network, `compete regions count --through 0,1,2 --grid-compare` counts the activation
# regions of the triangle of MNIST test images 0, 1, 2 exactly, then samples grids of doubling
# resolution over the same triangle (batched f32 forward passes, distinct patterns) until they reach
# 99% of the exact count or --grid-max, timing both in the same process. Then it times exact counts
# of growing slices (regions per second as the count grows).
#
#   bash benches/regions.sh                       # trains the small nets if missing (~1 min)
#   RELU1000=runs/table1-relu/checkpoints/best.safetensors bash benches/regions.sh
#
# Needs the full MNIST (DATA, default ../shared/data/mnist). Results: target/bench-regions/*/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
OUT=${OUT:-target/bench-regions}
THREADS=${THREADS:-2}
BIN=target/release/compete
cargo build --release --quiet
mkdir -p "$OUT"

train() { # name hidden competition epochs
  local ck="$OUT/nets/$1/checkpoints/best.safetensors"
  if [ ! -f "$ck" ]; then
    "$BIN" --threads "$THREADS" train --data "mnist:$DATA" --hidden "$2" --competition "$3" --epochs "$4" \
      --name "$1" --out "$OUT/nets/$1" --quiet >&2
  fi
  echo "$ck"
}

RELU100=${RELU100:-$(train relu100 100,100,100 relu 15)}
MAXOUT100=${MAXOUT100:-$(train maxout100 100,100,100 maxout:2 15)}
RELU1000=${RELU1000:-$(train relu1000 1000,1000,1000 relu 10)}

count() { # name checkpoint grid-max [extra flags]
  local name=$1 ck=$2 gmax=$3
  shift 3
  echo "== $name: $ck"
  "$BIN" --threads "$THREADS" regions count "$ck" --data "mnist:$DATA" --through 0,1,2 \
    --grid-compare --grid-max "$gmax" --save-regions 0 -o "$OUT/$name" "$@"
}

count relu-784-100x3 "$RELU100" 8192
count maxout2-784-100x3 "$MAXOUT100" 4096
count relu-784-1000x3 "$RELU1000" 1024

echo "== regions per second as the slice grows (784-100x3 ReLU, exact only)"
for m in 0 0.5 1 2 4; do
  "$BIN" --threads "$THREADS" regions count "$RELU100" --data "mnist:$DATA" --through 0,1,2 --margin "$m" \
    --save-regions 0 -o "$OUT/growth-$m" | sed -n 1p
done
