#!/usr/bin/env bash
# compete.hamming_topk (the Python package) against faiss.IndexBinaryFlat, both from Python, same
# codes and threads, beside the CLI's throughput on the same codes (what the Python layer costs).
#
# Usage: bash benches/python_hamming.sh [--threads 2] [--database 1000000] [--queries 1000]
#            [--bits 256,1024,4096] [--k 10,100] [--min-seconds 1] [--pairs 3] [--out DIR]
#
# Builds the CLI, creates benches/.venv-faiss (setup_faiss_venv.sh) and installs the package into it
# (pip install ./python), writes the codes with `compete bench-hamming --codes-dir` (reused by later
# runs and by benches/hamming.sh's default folder layout), then runs benches/python_hamming.py, which
# times both from Python and pairs Python with CLI runs. Stop other work first: a busy core moves the
# figures.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
threads=2 database=1000000 queries=1000 bits=256,1024,4096 k=10,100 min_seconds=1 pairs=3
out="$root/target/bench-hamming"
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --database) database="$2"; shift 2 ;;
        --queries) queries="$2"; shift 2 ;;
        --bits) bits="$2"; shift 2 ;;
        --k) k="$2"; shift 2 ;;
        --min-seconds) min_seconds="$2"; shift 2 ;;
        --pairs) pairs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "python_hamming.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

(cd "$root" && cargo build --release --quiet)
bash "$here/setup_faiss_venv.sh"
"$here/.venv-faiss/bin/python" -m pip install --disable-pip-version-check -q --force-reinstall --no-deps "$root/python"
mkdir -p "$out/codes"
sizes=(--database "$database" --queries "$queries" --bits "$bits" --k "$k")
lscpu | grep -E "Model name|^CPU\(s\)" || true
echo "python_hamming.sh: $(uptime)"
# Writes the codes once (a CLI run with a short search), so that both sides read the same files.
"$root/target/release/compete" --threads "$threads" bench-hamming "${sizes[@]}" --min-seconds 0 \
    --codes-dir "$out/codes" --json > /dev/null
cd "$root"  # not python/, so that `import compete` is the installed package
RAYON_NUM_THREADS="$threads" "$here/.venv-faiss/bin/python" "$here/python_hamming.py" --threads "$threads" "${sizes[@]}" \
    --min-seconds "$min_seconds" --codes-dir "$out/codes" --cli "$root/target/release/compete" --pairs "$pairs" | tee "$out/python-table.md"
echo "python_hamming.sh: $(uptime)"
