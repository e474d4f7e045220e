#!/usr/bin/env bash
# Exact Hamming top-k search: `compete bench-hamming` against FAISS's IndexBinaryFlat on the same
# random codes, same k, same thread count. Prints one markdown table (queries/second of both, the
# ratio compete / FAISS) and fails when any distance differs.
#
# Usage: bash benches/hamming.sh [--threads 2] [--database 1000000] [--queries 1000]
#            [--bits 256,1024,4096] [--k 10,100] [--seed 0] [--repeat 1] [--min-seconds 1] [--out DIR]
#
# Builds the release binary, creates benches/.venv-faiss (setup_faiss_venv.sh), then in DIR (default
# target/bench-hamming; about 700 MB of codes at the default sizes, reused by later runs):
#   codes/      the codes, written by compete and read by both (.npy, uint8)
#   distances/  compete's neighbour distances (.npy, uint32), compared with FAISS's for every query
#   compete.jsonl, faiss.jsonl, table.md
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
threads=2 database=1000000 queries=1000 bits=256,1024,4096 k=10,100 seed=0 repeat=1 min_seconds=1
out="$root/target/bench-hamming"
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --database) database="$2"; shift 2 ;;
        --queries) queries="$2"; shift 2 ;;
        --bits) bits="$2"; shift 2 ;;
        --k) k="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --min-seconds) min_seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "hamming.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

(cd "$root" && cargo build --release --quiet)
bash "$here/setup_faiss_venv.sh"
mkdir -p "$out/codes" "$out/distances"

sizes=(--database "$database" --queries "$queries" --bits "$bits" --k "$k" --seed "$seed" --repeat "$repeat"
       --min-seconds "$min_seconds")
echo "hamming.sh: $(uptime)"
echo "hamming.sh: compete, $threads thread(s)"
"$root/target/release/compete" --threads "$threads" bench-hamming "${sizes[@]}" \
    --codes-dir "$out/codes" --write-distances "$out/distances" --json | tee "$out/compete.jsonl"
echo "hamming.sh: $(uptime)"
echo "hamming.sh: FAISS IndexBinaryFlat, $threads OpenMP thread(s)"
status=0
"$here/.venv-faiss/bin/python" "$here/faiss_hamming.py" --threads "$threads" "${sizes[@]}" \
    --codes-dir "$out/codes" --distances-dir "$out/distances" --compete-json "$out/compete.jsonl" \
    --json-out "$out/faiss.jsonl" > "$out/table.md" || status=$?
echo "hamming.sh: $(uptime)"
cat "$out/table.md"
exit $status
