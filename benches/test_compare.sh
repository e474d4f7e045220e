#!/usr/bin/env bash
# Tests of compare.sh / compare_table.py on hand-made JSON outputs (no compete binary, no torch needed),
# plus pytorch_mlp.py --selftest when benches/.venv exists. Prints "N passed, N failed"; exit 1 on a failure.
# Usage: bash benches/test_compare.sh
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     | /'; }
# expect NAME WANTED_STATUS COMMAND... : runs the command, keeps its stdout+stderr in $work/out
expect() {
    local name="$1" want="$2"
    shift 2
    "$@" >"$work/out" 2>&1
    local got=$?
    if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, wanted $want" "$(cat "$work/out")"; fi
}
# has NAME REGEX : $work/out has a line matching the extended regex
has() {
    if grep -Eq -- "$2" "$work/out"; then ok "$1"; else bad "$1: no line matches /$2/" "$(cat "$work/out")"; fi
}
hasnt() {
    if grep -Eq -- "$2" "$work/out"; then bad "$1: a line matches /$2/" "$(cat "$work/out")"; else ok "$1"; fi
}

# Hand-made compete output: a log line, different spellings of the names, a null epoch, a bare "lwta".
cat >"$work/compete.jsonl" <<'EOF'
compete bench: 3 competitions, 2 threads
{"peer":"compete","competition":"ReLU","median_ms":5.0,"p10_ms":4.5,"p90_ms":6.0,"epoch_s":2.5,"threads":2}
{"peer":"compete","competition":"lwta","median_ms":6.0,"p10_ms":5.5,"p90_ms":7.0,"epoch_s":null,"threads":2}
{"peer":"compete","competition":"maxout(2)","median_ms":12.0,"p10_ms":11.0,"p90_ms":13.0,"epoch_s":6.0,"threads":2}
EOF
cat >"$work/pytorch.jsonl" <<'EOF'
{"peer":"pytorch","version":"2.15.0+cu132","threads":2,"batch":100,"widths":[784,1000,1000,10],"competition":"relu","median_ms":10.0,"p10_ms":9.0,"p90_ms":11.0,"epoch_s":5.0,"steps":200,"warmup":20}
{"peer":"pytorch","version":"2.15.0+cu132","threads":2,"batch":100,"widths":[784,1000,1000,10],"competition":"lwta:2","median_ms":8.0,"p10_ms":7.0,"p90_ms":9.0,"epoch_s":4.0,"steps":200,"warmup":20}
{"peer":"pytorch","version":"2.15.0+cu132","threads":2,"batch":100,"widths":[784,1000,1000,10],"competition":"maxout:2","median_ms":16.0,"p10_ms":15.0,"p90_ms":17.0,"epoch_s":8.0,"steps":200,"warmup":20}
EOF

expect "both JSON files given" 0 bash "$here/compare.sh" --compete-json "$work/compete.jsonl" --pytorch-json "$work/pytorch.jsonl"
has "header row" '^\| competition \| compete ms/step \| pytorch ms/step \| ratio \|'
has "relu row: 5/10 = 0.50, epoch 2.5/5 = 0.50" '^\| relu \| 5\.00 \(4\.50–6\.00\) \| 10\.00 \(9\.00–11\.00\) \| 0\.50 \| 2\.50 \| 5\.00 \| 0\.50 \|$'
has "bare lwta matches lwta:2: 6/8 = 0.75, null epoch is a dash" '^\| lwta:2 \| 6\.00 \(5\.50–7\.00\) \| 8\.00 \(7\.00–9\.00\) \| 0\.75 \| — \| 4\.00 \| — \|$'
has "maxout(2) matches maxout:2: 12/16 = 0.75" '^\| maxout:2 \| 12\.00 \(11\.00–13\.00\) \| 16\.00 \(15\.00–17\.00\) \| 0\.75 \| 6\.00 \| 8\.00 \| 0\.75 \|$'
has "context line names torch and threads" 'torch 2\.15\.0\+cu132, threads 2, batch 100, widths 784-1000-1000-10'
hasnt "no unmatched bare lwta row" '^\| lwta \|'
rows=$(grep -c '^| [a-z]' "$work/out")
if [ "$rows" = 4 ]; then ok "header + 3 rows"; else bad "header + 3 rows: got $rows table lines starting with a name" "$(cat "$work/out")"; fi

# --out keeps the inputs and the table.
expect "--out DIR" 0 bash "$here/compare.sh" --compete-json "$work/compete.jsonl" --pytorch-json "$work/pytorch.jsonl" --out "$work/kept"
if [ -s "$work/kept/table.md" ] && cmp -s "$work/kept/compete.jsonl" "$work/compete.jsonl"; then ok "--out wrote table.md and compete.jsonl"; else bad "--out wrote table.md and compete.jsonl"; fi

# A competition missing on one side, a non-numeric median, a broken JSON line.
cat >"$work/compete2.jsonl" <<'EOF'
{"peer":"compete","competition":"relu","median_ms":"fast","p10_ms":1,"p90_ms":2,"epoch_s":1}
{"peer":"compete","competition":"lwta:4","median_ms":3.0,"p10_ms":2.0,"p90_ms":4.0,"epoch_s":1.5}
{"peer":"compete","competition":"maxout:2","median_ms":3.0
EOF
expect "partial outputs still give a table" 0 python3 "$here/compare_table.py" "$work/compete2.jsonl" "$work/pytorch.jsonl"
has "non-numeric median is a dash" '^\| relu \| — \| 10\.00 \(9\.00–11\.00\) \| — \| 1\.00 \| 5\.00 \| 0\.20 \|$'
has "lwta:4 only on the compete side" '^\| lwta:4 \| 3\.00 \(2\.00–4\.00\) \| — \| — \| 1\.50 \| — \| — \|$'
has "lwta:2 only on the pytorch side" '^\| lwta:2 \| — \| 8\.00 '
has "broken line reported" 'compete2\.jsonl:3: skipped, not JSON'

# Nothing usable on either side, bad arguments, missing files.
printf 'no json here\n' >"$work/empty.txt"
expect "no records at all: exit 1" 1 bash "$here/compare.sh" --compete-json "$work/empty.txt" --pytorch-json "$work/empty.txt"
has "says which output is empty" 'no JSON records .* compete output'
expect "unknown option: exit 2" 2 bash "$here/compare.sh" --bogus
expect "bad --threads: exit 2" 2 bash "$here/compare.sh" --threads 0 --compete-json "$work/compete.jsonl" --pytorch-json "$work/pytorch.jsonl"
has "names the bad value" "--threads '0'"
expect "missing --compete-json file: exit 2" 2 bash "$here/compare.sh" --compete-json "$work/nope.jsonl" --pytorch-json "$work/pytorch.jsonl"
expect "missing compete binary: exit 2" 2 bash "$here/compare.sh" --compete "$work/no-such-compete" --pytorch-json "$work/pytorch.jsonl"
has "says how to build it" 'cargo build --release'

# The PyTorch peer's own checks, when its venv is there.
if [ -x "$here/.venv/bin/python" ]; then
    expect "pytorch_mlp.py --selftest" 0 "$here/.venv/bin/python" "$here/pytorch_mlp.py" --selftest
    expect "pytorch_mlp.py rejects lwta:1" 2 "$here/.venv/bin/python" "$here/pytorch_mlp.py" --competition lwta:1
    expect "pytorch_mlp.py rejects lwta:3 on width 1000" 2 "$here/.venv/bin/python" "$here/pytorch_mlp.py" --competition lwta:3
    expect "pytorch_mlp.py tiny run" 0 "$here/.venv/bin/python" "$here/pytorch_mlp.py" --json --widths 20,8,8,3 --batch 4 --examples 40 --steps 3 --warmup 1 --epoch --competition all
    n=$(grep -c '"peer": "pytorch"' "$work/out")
    if [ "$n" = 3 ]; then ok "tiny run printed 3 JSON records"; else bad "tiny run printed $n JSON records, wanted 3" "$(cat "$work/out")"; fi
    cp "$work/out" "$work/tiny.jsonl"
    expect "tiny run output feeds the table" 0 python3 "$here/compare_table.py" "$work/compete.jsonl" "$work/tiny.jsonl"
    has "maxout row has both sides" '^\| maxout:2 \| 12\.00 .* \| [0-9]+\.[0-9]{2} \|'
else
    echo "skip pytorch_mlp.py checks: benches/.venv missing (bash benches/setup_venv.sh)"
fi

# compare_layers_table.py: layer ops and MLP records at two thread counts, one shape mismatch.
cat >"$work/layers-c.jsonl" <<'EOF'
{"peer":"compete","op":"conv5x5_1to128","threads":1,"input_shape":[100,1,28,28],"output_shape":[100,128,28,28],"median_ms":30.0,"p10_ms":29.0,"p90_ms":31.0,"load1":0.5}
{"peer":"compete","op":"maxpool4s2_128","threads":2,"input_shape":[100,128,28,28],"output_shape":[100,128,13,13],"median_ms":50.0,"p10_ms":49.0,"p90_ms":51.0,"load1":0.7}
{"peer":"compete","competition":"relu","threads":1,"median_ms":10.0,"p10_ms":9.0,"p90_ms":11.0}
EOF
cat >"$work/layers-p.jsonl" <<'EOF'
{"peer":"pytorch","op":"conv5x5_1to128","threads":1,"input_shape":[100,1,28,28],"output_shape":[100,128,28,28],"median_ms":60.0,"p10_ms":58.0,"p90_ms":62.0,"load1":0.6}
{"peer":"pytorch","op":"maxpool4s2_128","threads":2,"input_shape":[100,128,28,28],"output_shape":[100,128,14,14],"median_ms":100.0,"p10_ms":99.0,"p90_ms":101.0,"load1":0.8}
{"peer":"pytorch","competition":"relu","threads":1,"median_ms":20.0,"p10_ms":19.0,"p90_ms":21.0}
{"peer":"pytorch","op":"conv_maxout_mnist","threads":1,"input_shape":[100,1,28,28],"output_shape":[100,10],"median_ms":200.0,"p10_ms":190.0,"p90_ms":210.0,"load1":0.6}
EOF
expect "compare_layers_table.py flags a shape mismatch" 1 python3 "$here/compare_layers_table.py" "$work/layers-c.jsonl" "$work/layers-p.jsonl"
has "layer row with its ratio" '^\| 1 \| conv5x5_1to128 \| 30\.00 \(29\.00–31\.00\) \| 60\.00 \(58\.00–62\.00\) \| 0\.50 \| 0\.50 / 0\.60 \|$'
has "MLP record as mlp_relu" '^\| 1 \| mlp_relu \| 10\.00 .* \| 0\.50 \|'
has "mismatch named" 'maxpool4s2_128 \*\*output_shape differs'
has "conv maxout row without a compete figure" '^\| 1 \| conv_maxout_mnist \| — \| 200\.00'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
