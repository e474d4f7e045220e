#!/usr/bin/env python3
"""Merge the JSON lines of `compete bench --json` and `pytorch_mlp.py --json` into a markdown table.

Usage: python3 benches/compare_table.py COMPETE_JSON PYTORCH_JSON

Each file holds one JSON object per line (other lines, such as log lines, are skipped with a note on
stderr). Records are matched by competition: names are normalised (case, spaces, ``lwta2``,
``lwta(2)``, ``lwta_2``, ``lwta:k=2`` and ``lwta:2`` are the same), and a bare ``lwta`` or ``maxout`` on one side
matches the only record of that kind on the other side. The table has one row per competition with both
peers' median (p10-p90) ms per step, the ratio compete/pytorch of the medians (below 1: compete is
faster) and the epoch seconds with their ratio. Needs only the Python standard library.
"""

from __future__ import annotations

import json
import math
import re
import sys

ORDER = ("relu", "lwta", "maxout")


def normalise(name: object) -> str:
    """Canonical competition name: ``relu``, ``lwta:K``, ``maxout:K`` or the bare kind ``lwta``/``maxout``."""
    text = str(name).strip().lower()
    text = re.sub(r"[\s()\[\]_=\-]+", ":", text)
    text = re.sub(r":+", ":", text).strip(":")
    m = re.fullmatch(r"([a-z]+)[^0-9]*?(\d+)", text)
    if m:
        text = f"{m.group(1)}:{m.group(2)}"
    return text


def load(path: str, peer: str) -> list[dict]:
    """The JSON objects with a competition field in a file of JSON lines."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        print(f"compare_table.py: cannot read the {peer} output {path}: {e}", file=sys.stderr)
        return records
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"compare_table.py: {path}:{number}: skipped, not JSON ({e.msg})", file=sys.stderr)
            continue
        if not isinstance(obj, dict) or "competition" not in obj:
            print(f"compare_table.py: {path}:{number}: skipped, no 'competition' field", file=sys.stderr)
            continue
        obj["_key"] = normalise(obj["competition"])
        records.append(obj)
    if not records:
        print(f"compare_table.py: no JSON records with a 'competition' field in the {peer} output {path}", file=sys.stderr)
    return records


def number(record: dict | None, field: str) -> float | None:
    """A finite float field of a record, or None."""
    if record is None:
        return None
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def match(compete: list[dict], pytorch: list[dict]) -> list[tuple[str, dict | None, dict | None]]:
    """Pairs (name, compete record, pytorch record) by normalised competition name."""
    rows: dict[str, list[dict | None]] = {}
    for rec in pytorch:
        rows.setdefault(rec["_key"], [None, None])[1] = rec
    for rec in compete:
        key = rec["_key"]
        if key not in rows and key in ("lwta", "maxout"):
            same_kind = [k for k in rows if k.split(":")[0] == key]
            if len(same_kind) == 1:
                key = same_kind[0]
        rows.setdefault(key, [None, None])[0] = rec
    # pytorch records with a bare kind against a unique sized compete record of that kind
    for key in [k for k in rows if k in ("lwta", "maxout") and rows[k][0] is None]:
        same_kind = [k for k in rows if k != key and k.split(":")[0] == key and rows[k][1] is None]
        if len(same_kind) == 1:
            rows[same_kind[0]][1] = rows.pop(key)[1]

    def order(key: str) -> tuple[int, str]:
        kind = key.split(":")[0]
        return (ORDER.index(kind) if kind in ORDER else len(ORDER), key)

    return [(key, c, p) for key, (c, p) in sorted(rows.items(), key=lambda kv: order(kv[0]))]


def fmt_step(record: dict | None) -> str:
    """``median (p10-p90)`` in ms, or a dash."""
    med = number(record, "median_ms")
    if med is None:
        return "—"
    lo, hi = number(record, "p10_ms"), number(record, "p90_ms")
    spread = f" ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else ""
    return f"{med:.2f}{spread}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    """a / b with two decimals, or a dash."""
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def fmt_secs(value: float | None) -> str:
    """Seconds with two decimals, or a dash."""
    return "—" if value is None else f"{value:.2f}"


def table(compete: list[dict], pytorch: list[dict]) -> str:
    """The markdown table (with a header line naming the setting of the PyTorch run)."""
    lines = []
    ref = pytorch[0] if pytorch else {}
    ctx = []
    if "version" in ref:
        ctx.append(f"torch {ref['version']}")
    threads = {r.get("threads") for r in compete + pytorch if r.get("threads") is not None}
    if threads:
        ctx.append("threads " + "/".join(str(t) for t in sorted(threads, key=str)))
    if "batch" in ref:
        ctx.append(f"batch {ref['batch']}")
    if "widths" in ref and isinstance(ref["widths"], list):
        ctx.append("widths " + "-".join(str(w) for w in ref["widths"]))
    if ctx:
        lines.append("Step time in ms: median (p10–p90); ratio = compete / pytorch (below 1: compete is faster). " + ", ".join(ctx) + ".")
        lines.append("")
    lines.append("| competition | compete ms/step | pytorch ms/step | ratio | compete epoch s | pytorch epoch s | epoch ratio |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for key, c, p in match(compete, pytorch):
        lines.append(
            f"| {key} | {fmt_step(c)} | {fmt_step(p)} | {fmt_ratio(number(c, 'median_ms'), number(p, 'median_ms'))} "
            f"| {fmt_secs(number(c, 'epoch_s'))} | {fmt_secs(number(p, 'epoch_s'))} "
            f"| {fmt_ratio(number(c, 'epoch_s'), number(p, 'epoch_s'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point; returns the exit status (1 when neither file has a record, 2 on bad usage)."""
    if len(argv) != 2:
        print("usage: compare_table.py COMPETE_JSON PYTORCH_JSON", file=sys.stderr)
        return 2
    compete, pytorch = load(argv[0], "compete"), load(argv[1], "pytorch")
    if not compete and not pytorch:
        return 1
    print(table(compete, pytorch))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
