#!/usr/bin/env bash
# Side-by-side step and epoch times of `compete bench` and the PyTorch peer (benches/pytorch_mlp.py),
# at the same thread count, as a markdown table with the ratio compete/pytorch per competition.
#
# Usage: bash benches/compare.sh [options]
#   --threads N          threads for both peers (default 1)
#   --steps S            timed steps of the PyTorch peer (default 200)
#   --warmup W           untimed steps of the PyTorch peer (default 20)
#   --no-epoch           skip the PyTorch epoch timing (on by default, as compete reports epoch_s)
#   --compete-json FILE  use this output of `compete bench --json` instead of running it
#   --pytorch-json FILE  use this output of pytorch_mlp.py --json instead of running it
#   --compete BIN        the compete binary (default target/release/compete)
#   --out DIR            also keep compete.jsonl, pytorch.jsonl and table.md in DIR
# Extra arguments for `compete bench` can be given in COMPETE_BENCH_ARGS (word-split).
# Each JSON output has one object per line with at least {competition, median_ms, p10_ms, p90_ms,
# epoch_s}; other lines are skipped. Needs python3 (standard library only) for the table; running the
# PyTorch peer needs benches/.venv (bash benches/setup_venv.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

threads=1
steps=200
warmup=20
epoch=1
compete_json=""
pytorch_json=""
compete_bin="$root/target/release/compete"
out_dir=""

die() {
    echo "compare.sh: $*" >&2
    exit 2
}
need_value() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

while [ "$#" -gt 0 ]; do
    case "$1" in
        --threads) need_value "$@"; threads="$2"; shift 2 ;;
        --steps) need_value "$@"; steps="$2"; shift 2 ;;
        --warmup) need_value "$@"; warmup="$2"; shift 2 ;;
        --no-epoch) epoch=0; shift ;;
        --compete-json) need_value "$@"; compete_json="$2"; shift 2 ;;
        --pytorch-json) need_value "$@"; pytorch_json="$2"; shift 2 ;;
        --compete) need_value "$@"; compete_bin="$2"; shift 2 ;;
        --out) need_value "$@"; out_dir="$2"; shift 2 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
is_count "$threads" || die "--threads '$threads': expected an integer >= 1"
is_count "$steps" || die "--steps '$steps': expected an integer >= 1"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "--warmup '$warmup': expected an integer >= 0"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# compete side
if [ -n "$compete_json" ]; then
    [ -r "$compete_json" ] || die "--compete-json '$compete_json': no such readable file"
    cp "$compete_json" "$work/compete.jsonl"
else
    [ -x "$compete_bin" ] || die "compete binary '$compete_bin' not found or not executable: build it with 'cargo build --release' or pass --compete-json FILE"
    echo "compare.sh: running $compete_bin bench --json --threads $threads ${COMPETE_BENCH_ARGS:-}" >&2
    # shellcheck disable=SC2086  # COMPETE_BENCH_ARGS is meant to be word-split
    if ! "$compete_bin" bench --json --threads "$threads" ${COMPETE_BENCH_ARGS:-} >"$work/compete.jsonl"; then
        echo "compare.sh: warning: compete bench exited with an error; its table cells stay empty" >&2
    fi
fi

# PyTorch side
if [ -n "$pytorch_json" ]; then
    [ -r "$pytorch_json" ] || die "--pytorch-json '$pytorch_json': no such readable file"
    cp "$pytorch_json" "$work/pytorch.jsonl"
else
    py="$here/.venv/bin/python"
    [ -x "$py" ] || die "$py not found: run 'bash benches/setup_venv.sh' first or pass --pytorch-json FILE"
    args=(--json --threads "$threads" --competition all --steps "$steps" --warmup "$warmup")
    if [ "$epoch" = 1 ]; then args+=(--epoch); fi
    echo "compare.sh: running benches/pytorch_mlp.py ${args[*]}" >&2
    if ! "$py" "$here/pytorch_mlp.py" "${args[@]}" >"$work/pytorch.jsonl"; then
        echo "compare.sh: warning: pytorch_mlp.py exited with an error; its table cells stay empty" >&2
    fi
fi

status=0
python3 "$here/compare_table.py" "$work/compete.jsonl" "$work/pytorch.jsonl" >"$work/table.md" || status=$?
cat "$work/table.md"

if [ -n "$out_dir" ]; then
    mkdir -p "$out_dir"
    cp "$work/compete.jsonl" "$work/pytorch.jsonl" "$work/table.md" "$out_dir/"
fi
exit "$status"
