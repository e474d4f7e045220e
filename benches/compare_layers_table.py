#!/usr/bin/env python3
"""Merge compete's and PyTorch's JSON lines for the layer benchmark into one markdown table.

Usage: python3 benches/compare_layers_table.py FILE...

Each FILE holds JSON objects, one per line (other lines are skipped): records of `compete bench-layers
--json` and `pytorch_layers.py --json` (keyed by ``op``) and of `compete bench --json` and
`pytorch_mlp.py --json` (keyed by ``competition``, shown as op ``mlp_<competition>``), from any number of
thread counts. The table has one row per (threads, op): both peers' median (p10-p90) ms per step, the
ratio compete/pytorch of the medians (below 1: compete is faster) and the 1-minute load average at the
start of each peer's op. Where both peers report ``input_shape``/``output_shape`` and they differ, the
row says so and the exit status is 1. Standard library only.
"""

from __future__ import annotations

import json
import math
import sys

ORDER = (
    "mlp_relu",
    "mlp_lwta:2",
    "mlp_maxout:2",
    "conv5x5_1to128",
    "conv5x5_128to128",
    "convT11x11_128to1",
    "maxpool4s4_128",
    "maxpool4s2_128",
    "local9x9_1to16",
    "local9x9_16to16",
    "conv_maxout_mnist",
    "fcwta_784x2000",
    "convwta_16",
    "convwta_64",
    "convwta_128",
    "wtarbm_784x256",
)


def key(rec: dict) -> str | None:
    if "op" in rec:
        return str(rec["op"])
    if "competition" in rec:
        return "mlp_" + str(rec["competition"]).strip().lower()
    return None


def load(paths: list[str]) -> dict:
    table: dict = {}
    for path in paths:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError as e:
            print(f"compare_layers_table.py: cannot read {path}: {e}", file=sys.stderr)
            continue
        for line in lines:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            op, peer = key(rec), rec.get("peer")
            if op is None or peer not in ("compete", "pytorch"):
                continue
            table[(int(rec.get("threads", 0)), op, peer)] = rec
    return table


def ms(rec: dict | None) -> str:
    if rec is None or not isinstance(rec.get("median_ms"), (int, float)):
        return "—"
    p10, p90 = rec.get("p10_ms"), rec.get("p90_ms")
    spread = f" ({p10:.2f}–{p90:.2f})" if isinstance(p10, (int, float)) and isinstance(p90, (int, float)) else ""
    return f"{rec['median_ms']:.2f}{spread}"


def main(argv: list[str]) -> int:
    table = load(argv)
    threads = sorted({t for t, _, _ in table})
    ops = sorted({o for _, o, _ in table} | set(ORDER), key=lambda o: (ORDER.index(o) if o in ORDER else len(ORDER), o))
    status = 0
    print("| threads | op | compete ms (p10–p90) | pytorch ms (p10–p90) | compete / pytorch | load1 compete / pytorch |")
    print("|---:|---|---:|---:|---:|---|")
    for t in threads:
        for op in ops:
            c, p = table.get((t, op, "compete")), table.get((t, op, "pytorch"))
            if c is None and p is None and op not in ORDER:
                continue
            ratio = "—"
            if c and p and c.get("median_ms") and p.get("median_ms") and math.isfinite(p["median_ms"]) and p["median_ms"] > 0:
                ratio = f"{c['median_ms'] / p['median_ms']:.2f}"
            note = ""
            for field in ("input_shape", "output_shape"):
                if c and p and field in c and field in p and list(c[field]) != list(p[field]):
                    note += f" **{field} differs: {c[field]} vs {p[field]}**"
                    status = 1
            load_of = lambda r: "—" if r is None or r.get("load1") is None else f"{r['load1']:.2f}"  # noqa: E731
            print(f"| {t} | {op}{note} | {ms(c)} | {ms(p)} | {ratio} | {load_of(c)} / {load_of(p)} |")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
