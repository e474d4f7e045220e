#!/usr/bin/env bash
# compete against PyTorch, forward + backward of single layers (issue 10) and the MLP training step,
# at 1 and 2 threads, in one markdown table: op, compete ms, pytorch ms, ratio compete/pytorch.
#
# Usage: bash benches/compare_layers.sh [options]
#   --threads "1 2"      thread counts, space- or comma-separated (default "1 2"); the same for both peers
#   --ops LIST           comma-separated layer ops (default: all, see benches/README.md)
#   --steps S            timed steps per op, at most (default 30; --max-seconds stops earlier)
#   --warmup W           untimed steps per op (default 2)
#   --max-seconds X      stop timing an op after X seconds, at least 3 steps (default 10)
#   --mlp-steps S        timed steps of the MLP step (default 100)
#   --no-mlp             skip the MLP rows
#   --compete BIN        the compete binary (default target/release/compete)
#   --out DIR            keep the JSON lines (compete-T.jsonl, pytorch-T.jsonl) and table.md in DIR
# Needs benches/.venv (bash benches/setup_venv.sh) and a release build (cargo build --release).
# For each thread count it runs, back to back: compete bench --json, pytorch_mlp.py --json,
# compete bench-layers --json, pytorch_layers.py --json; then compare_layers_table.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

threads_list="1 2"
ops=""
steps=30
warmup=2
max_seconds=10
mlp_steps=100
mlp=1
compete_bin="$root/target/release/compete"
out_dir=""

die() {
    echo "compare_layers.sh: $*" >&2
    exit 2
}
need_value() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ "$#" -gt 0 ]; do
    case "$1" in
        --threads) need_value "$@"; threads_list="${2//,/ }"; shift 2 ;;
        --ops) need_value "$@"; ops="$2"; shift 2 ;;
        --steps) need_value "$@"; steps="$2"; shift 2 ;;
        --warmup) need_value "$@"; warmup="$2"; shift 2 ;;
        --max-seconds) need_value "$@"; max_seconds="$2"; shift 2 ;;
        --mlp-steps) need_value "$@"; mlp_steps="$2"; shift 2 ;;
        --no-mlp) mlp=0; shift ;;
        --compete) need_value "$@"; compete_bin="$2"; shift 2 ;;
        --out) need_value "$@"; out_dir="$2"; shift 2 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for t in $threads_list; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "--threads: '$t' is not an integer >= 1"; done
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "--steps '$steps': expected an integer >= 1"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "--warmup '$warmup': expected an integer >= 0"
[ -x "$compete_bin" ] || die "compete binary '$compete_bin' not found: run 'cargo build --release' or pass --compete BIN"
py="$here/.venv/bin/python"
[ -x "$py" ] || die "$py not found: run 'bash benches/setup_venv.sh' first"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "compare_layers.sh: $(lscpu 2>/dev/null | grep 'Model name' | sed 's/  */ /g'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

op_args=()
if [ -n "$ops" ]; then op_args=(--ops "$ops"); fi
files=()
for t in $threads_list; do
    c="$work/compete-$t.jsonl"
    p="$work/pytorch-$t.jsonl"
    : >"$c"
    : >"$p"
    if [ "$mlp" = 1 ]; then
        echo "compare_layers.sh: $t thread(s): MLP step (compete bench, pytorch_mlp.py), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        "$compete_bin" --threads "$t" bench --json --epoch 0 --steps "$mlp_steps" >>"$c" || echo "compare_layers.sh: warning: compete bench failed" >&2
        "$py" "$here/pytorch_mlp.py" --json --threads "$t" --competition all --steps "$mlp_steps" >>"$p" || echo "compare_layers.sh: warning: pytorch_mlp.py failed" >&2
    fi
    echo "compare_layers.sh: $t thread(s): layers (compete bench-layers, pytorch_layers.py), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    "$compete_bin" --threads "$t" bench-layers --json "${op_args[@]}" --steps "$steps" --warmup "$warmup" --max-seconds "$max_seconds" >>"$c" ||
        echo "compare_layers.sh: warning: compete bench-layers failed" >&2
    py_ops="${ops:-all}"
    "$py" "$here/pytorch_layers.py" --json --threads "$t" --ops "$py_ops" --steps "$steps" --warmup "$warmup" --max-seconds "$max_seconds" >>"$p" ||
        echo "compare_layers.sh: warning: pytorch_layers.py failed" >&2
    files+=("$c" "$p")
done

status=0
python3 "$here/compare_layers_table.py" "${files[@]}" >"$work/table.md" || status=$?
cat "$work/table.md"
if [ -n "$out_dir" ]; then
    mkdir -p "$out_dir"
    cp "${files[@]}" "$work/table.md" "$out_dir/"
fi
exit "$status"
