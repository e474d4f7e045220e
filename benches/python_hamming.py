#!/usr/bin/env python3
"""compete.hamming_topk from Python against faiss.IndexBinaryFlat from Python, same arrays, same
threads, one process; and against the CLI's own in-process throughput (`compete bench-hamming
--json`, run as a subprocess) on the same codes, in alternating pairs, to show what the Python
layer costs.

Reads the codes `compete bench-hamming --codes-dir DIR` wrote (uint8, np.packbits layout). For each
(bits, k) the two searches alternate, one call each, until each has run `--min-seconds` (so a busy
moment of a shared machine hits both); the fastest call of each counts. A compete call is the whole
`compete.hamming_topk(database, queries, k)`: argument checks, reading the arrays, the search and
the result arrays. A FAISS call is `index.search(queries, k)` on an index built before (its `add`,
a copy of the codes, is not timed). Then `--pairs` times: one CLI run (its search alone, timed
inside the CLI, at least `--min-seconds`), then Python calls for at least as long; the median of the
pairs' ratios is the Python layer's share of the CLI's throughput. Prints one markdown table; exit
status 1 when any distance differs.

    RAYON_NUM_THREADS=2 python benches/python_hamming.py --threads 2 --codes-dir D --cli target/release/compete
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def sizes(text):
    return [int(v) for v in text.split(",") if v.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--bits", type=sizes, default=[256, 1024, 4096])
    p.add_argument("--k", type=sizes, default=[10, 100])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--codes-dir", required=True)
    p.add_argument("--cli", help="the compete binary, for the Python-against-CLI pairs")
    p.add_argument("--pairs", type=int, default=3, help="alternating CLI / Python pairs per (bits, k) (default 3)")
    args = p.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if os.environ.get("RAYON_NUM_THREADS") != str(args.threads):
        sys.exit(f"python_hamming.py: set RAYON_NUM_THREADS={args.threads} before starting Python (compete's pool reads it once)")
    import faiss
    import numpy as np

    import compete

    faiss.omp_set_num_threads(args.threads)
    print(f"compete {compete.__version__} (Python), faiss {faiss.__version__}, numpy {np.__version__}, "
          f"{args.threads} thread(s) each", file=sys.stderr)

    def cli_qps(bits, k):
        """One CLI run on the same codes: its queries/second (the search alone, timed inside)."""
        cmd = [args.cli, "--threads", str(args.threads), "bench-hamming", "--database", str(args.database),
               "--queries", str(args.queries), "--bits", str(bits), "--k", str(k), "--seed", str(args.seed),
               "--min-seconds", str(args.min_seconds), "--codes-dir", args.codes_dir, "--json"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return next(r["qps"] for r in rows if r.get("peer") == "compete")

    def python_qps(db, queries, k):
        best, spent = float("inf"), 0.0
        while spent < args.min_seconds:
            t = time.perf_counter()
            compete.hamming_topk(db, queries, k)
            s = time.perf_counter() - t
            best, spent = min(best, s), spent + s
        return args.queries / best

    def load(role, n, bits):
        path = os.path.join(args.codes_dir, f"{role}_n{n}_b{bits}_s{args.seed}.npy")
        if not os.path.exists(path):
            sys.exit(f"python_hamming.py: {path} is missing; run compete bench-hamming --codes-dir {args.codes_dir} first")
        return np.load(path)

    rows, failed = [], False
    for bits in args.bits:
        db, queries = load("database", args.database, bits), load("queries", args.queries, bits)
        index = faiss.IndexBinaryFlat(bits)
        index.add(db)
        for k in args.k:
            best = {"compete": float("inf"), "faiss": float("inf")}
            spent = {"compete": 0.0, "faiss": 0.0}
            runs = 0
            while runs < 1 or min(spent.values()) < args.min_seconds:
                t = time.perf_counter()
                ours, _ = compete.hamming_topk(db, queries, k)
                s = time.perf_counter() - t
                best["compete"], spent["compete"] = min(best["compete"], s), spent["compete"] + s
                t = time.perf_counter()
                theirs, _ = index.search(queries, k)
                s = time.perf_counter() - t
                best["faiss"], spent["faiss"] = min(best["faiss"], s), spent["faiss"] + s
                runs += 1
            equal = bool(np.array_equal(ours.astype(np.int64), theirs.astype(np.int64)))
            failed |= not equal
            row = {"bits": bits, "k": k, "runs": runs, "compete_qps": args.queries / best["compete"],
                   "faiss_qps": args.queries / best["faiss"], "equal": equal}
            shares = []
            if args.cli:
                for _ in range(args.pairs):
                    c = cli_qps(bits, k)
                    shares.append((python_qps(db, queries, k) / c, c))
            row["cli_qps"] = statistics.median(c for _, c in shares) if shares else None
            row["python_over_cli"] = statistics.median(r for r, _ in shares) if shares else None
            row["python_over_cli_range"] = [min(r for r, _ in shares), max(r for r, _ in shares)] if shares else None
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        del index, db

    print(f"\n{args.database} database codes, {args.queries} queries, {args.threads} thread(s); queries/second, "
          f"the best call of (runs) alternating calls; compete / FAISS > 1: compete is faster\n")
    print("| bits | k | compete.hamming_topk q/s | faiss IndexBinaryFlat q/s (runs) | compete / FAISS | CLI q/s (median) | Python / CLI (median of pairs, range) | distances equal |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        cq = f"{r['cli_qps']:.1f}" if r["cli_qps"] else "—"
        share = (f"{r['python_over_cli']:.3f} ({r['python_over_cli_range'][0]:.2f}-{r['python_over_cli_range'][1]:.2f})"
                 if r["cli_qps"] else "—")
        print(f"| {r['bits']} | {r['k']} | {r['compete_qps']:.1f} | {r['faiss_qps']:.1f} ({r['runs']}) | "
              f"{r['compete_qps'] / r['faiss_qps']:.2f} | {cq} | {share} | {'yes' if r['equal'] else 'NO'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
