#!/usr/bin/env bash
# compete svm against scikit-learn's LinearSVC on the same features: fit time, test error, ratio.
#
# Usage: bash benches/compare_svm.sh [DIR] [C] [THREADS]
#   DIR      holds train.npy, val.npy, test.npy (+ .labels.npy) as `compete features` writes them;
#            default: raw MNIST pixels written into runs/svm-raw-mnist by `compete features --raw`
#            from $MNIST (default ../shared/data/mnist): 50000 training images (the last 10000
#            held out as validation, unused here), 784 features in [0, 1], 10000 test images.
#   C        the one value of C both fit (default 0.01)
#   THREADS  compete's threads for its second run (default 2); LinearSVC is single-threaded, so
#            compete also runs with --threads 1.
# Needs benches/.venv with scikit-learn (bash benches/setup_venv.sh). Record the CPU model with the
# figures: lscpu | grep 'Model name'.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
dir="${1:-}"
c="${2:-0.01}"
threads="${3:-2}"
compete="$root/target/release/compete"
py="$here/.venv/bin/python"
[ -x "$compete" ] || (cd "$root" && cargo build --release)
if [ -z "$dir" ]; then
    dir="$root/runs/svm-raw-mnist"
    mnist="${MNIST:-$root/../shared/data/mnist}"
    for s in train val test; do
        [ -f "$dir/$s.npy" ] || "$compete" features --raw --data "mnist:$mnist" --split "$s" -o "$dir/$s.npy" >/dev/null
    done
fi
lscpu | grep 'Model name' || true
sk=$("$py" "$here/sklearn_svm.py" "$dir/train.npy" "$dir/test.npy" --c "$c")
echo "$sk"
results=("$sk")
for t in 1 "$threads"; do
    out=$("$compete" --threads "$t" svm --train "$dir/train.npy" --val "$dir/val.npy" --test "$dir/test.npy" --c "$c" --json 2>/dev/null)
    line=$("$py" -c 'import json,sys; r=json.loads(sys.argv[1])["report"]; run=r["runs"][0]
print(json.dumps({"impl": "compete --threads '"$t"'", "c": run["c"], "train": run["train_size"], "width": r["width"],
 "fit_seconds": run["fit_seconds"], "test_errors": run["test_errors"], "test_error_rate": run["test_error_rate"],
 "n_iter": run["iterations"], "converged": run["converged"]}))' "$out")
    echo "$line"
    results+=("$line")
done
"$py" - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:]]
base = rows[0]["fit_seconds"]
print(f"{'implementation':<36} {'fit s':>8} {'test err':>9} {'passes':>7} {'conv':>5} {'time / sklearn':>15}")
for r in rows:
    print(f"{r['impl']:<36} {r['fit_seconds']:>8.2f} {100 * r['test_error_rate']:>8.2f}% {r['n_iter']:>7} {str(r['converged']):>5} {r['fit_seconds'] / base:>15.3f}")
PY
