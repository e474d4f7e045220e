#!/usr/bin/env python3
"""FAISS peer of `compete bench-hamming`: exact Hamming top-k with faiss.IndexBinaryFlat.

Reads the codes that `compete bench-hamming --codes-dir DIR` wrote (numpy uint8, one row of
bits/8 bytes per code: bit i of a code is bit i % 8 of byte i / 8, FAISS's layout), searches them
with IndexBinaryFlat (brute force, exact) on `--threads` OpenMP threads, and reports queries per
second. With `--distances-dir` (compete's `--write-distances DIR`) it checks that FAISS's distances
equal compete's, for every query; with `--compete-json` (compete's `--json` output) it prints one
markdown table with both speeds and the ratio compete / FAISS per (bits, k).

Exit status 1 when any distance differs or a file is missing.

    benches/.venv-faiss/bin/python benches/faiss_hamming.py --threads 2 --codes-dir D \\
        --distances-dir D --compete-json compete.jsonl
"""

import argparse
import json
import os
import sys
import time


def sizes(text):
    return [int(v) for v in text.split(",") if v.strip()]


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", type=int, default=1_000_000, help="database codes (default 1000000)")
    p.add_argument("--queries", type=int, default=1000, help="query codes (default 1000)")
    p.add_argument("--bits", type=sizes, default=[256, 1024, 4096], help="code lengths, comma-separated")
    p.add_argument("--k", type=sizes, default=[10, 100], help="neighbours per query, comma-separated")
    p.add_argument("--seed", type=int, default=0, help="seed of compete's codes (part of the file names)")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads (default 1)")
    p.add_argument("--repeat", type=int, default=1, help="timed searches per (bits, k), at least; the fastest counts")
    p.add_argument("--min-seconds", type=float, default=1.0,
                   help="repeat a search until this many seconds were spent on it (default 1)")
    p.add_argument("--codes-dir", required=True, help="compete bench-hamming --codes-dir DIR")
    p.add_argument("--distances-dir", help="compete bench-hamming --write-distances DIR: check the distances")
    p.add_argument("--compete-json", help="compete bench-hamming --json output: print the side-by-side table")
    p.add_argument("--json-out", help="also write one JSON object per (bits, k) to this file")
    args = p.parse_args()
    if args.threads < 1 or args.repeat < 1 or not args.min_seconds >= 0:
        p.error("--threads and --repeat must be at least 1, --min-seconds at least 0")

    # OpenMP reads its thread count when the library loads; set it before and after the import.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__} ({faiss.get_compile_options().strip()}), numpy {np.__version__}, "
          f"{args.threads} OpenMP thread(s)", file=sys.stderr)

    def load(role, n, bits):
        path = os.path.join(args.codes_dir, f"{role}_n{n}_b{bits}_s{args.seed}.npy")
        if not os.path.exists(path):
            sys.exit(f"faiss_hamming.py: {path} is missing; run compete bench-hamming --codes-dir {args.codes_dir} first")
        codes = np.load(path)
        if codes.dtype != np.uint8 or codes.shape != (n, bits // 8):
            sys.exit(f"faiss_hamming.py: {path}: {codes.dtype} {codes.shape}, expected uint8 ({n}, {bits // 8})")
        return np.ascontiguousarray(codes)

    records = []
    failed = False
    for bits in args.bits:
        if bits % 8 != 0:
            sys.exit(f"faiss_hamming.py: --bits {bits}: FAISS binary codes are whole bytes (a multiple of 8 bits)")
        index = faiss.IndexBinaryFlat(bits)
        db = load("database", args.database, bits)
        index.add(db)
        del db
        queries = load("queries", args.queries, bits)
        for k in args.k:
            load1 = load_average()
            best, total, runs = float("inf"), 0.0, 0
            while runs < args.repeat or total < args.min_seconds:
                t = time.perf_counter()
                distances, _ = index.search(queries, k)
                seconds = time.perf_counter() - t
                best, total, runs = min(best, seconds), total + seconds, runs + 1
            record = {
                "peer": "faiss", "version": faiss.__version__, "threads": args.threads, "database": args.database,
                "queries": args.queries, "bits": bits, "k": k, "seed": args.seed, "runs": runs,
                "seconds": best, "qps": args.queries / best, "load1": load1,
                "distances_equal": None, "queries_differing": None,
            }
            if args.distances_dir:
                path = os.path.join(args.distances_dir,
                                    f"distances_n{args.database}_q{args.queries}_b{bits}_k{k}_s{args.seed}.npy")
                if not os.path.exists(path):
                    print(f"faiss_hamming.py: {path} is missing: distances not checked", file=sys.stderr)
                    failed = True
                else:
                    ours = np.load(path)
                    same_shape = ours.shape == distances.shape
                    differing = (int(np.any(ours.astype(np.int64) != distances.astype(np.int64), axis=1).sum())
                                 if same_shape else args.queries)
                    record["distances_equal"] = same_shape and differing == 0
                    record["queries_differing"] = differing
                    failed |= differing != 0
            records.append(record)
            print(json.dumps(record), file=sys.stderr)
        del index

    if args.json_out:
        with open(args.json_out, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    compete = {}
    if args.compete_json:
        with open(args.compete_json) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict) and r.get("peer") == "compete":
                    compete[(r["bits"], r["k"])] = r

    print(f"\n{args.database} database codes, {args.queries} queries, {args.threads} thread(s); queries/second, "
          f"the best of (runs) searches; ratio > 1: compete is faster\n")
    print("| bits | k | compete q/s (runs) | FAISS q/s (runs) | compete / FAISS | distances equal |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in records:
        c = compete.get((r["bits"], r["k"]))
        cq = f"{c['qps']:.1f} ({c.get('runs', '?')})" if c else "—"
        ratio = f"{c['qps'] / r['qps']:.2f}" if c else "—"
        eq = {None: "not checked", True: "yes (all queries)"}.get(r["distances_equal"],
                                                                 f"NO ({r['queries_differing']} queries differ)")
        print(f"| {r['bits']} | {r['k']} | {cq} | {r['qps']:.1f} ({r['runs']}) | {ratio} | {eq} |")
    loads = [v for v in [c.get("load1") for c in compete.values()] + [r["load1"] for r in records] if v is not None]
    if loads:
        print(f"\n1-minute load average at the start of the measurements: {min(loads):.2f} to {max(loads):.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
