#!/usr/bin/env python3
"""scikit-learn's LinearSVC on the same .npy features as `compete svm` (benches/compare_svm.sh).

Usage: sklearn_svm.py TRAIN.npy TEST.npy --c C [--tol 1e-4] [--max-iter 1000]
Labels are read from <stem>.labels.npy beside each file, as `compete features` writes them.
Prints one JSON line: fit seconds, test errors and error rate, LinearSVC's n_iter_, and whether it
warned that it did not converge. LinearSVC (liblinear) fits the one-vs-rest problems one after the
other on one thread; it has no n_jobs.
"""
import argparse
import json
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC


def load(path):
    x = np.load(path)
    y = np.load(path[: -len(".npy")] + ".labels.npy")
    assert x.dtype == np.float32 and x.ndim == 2 and len(y) == len(x), (path, x.dtype, x.shape, y.shape)
    return x, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--c", type=float, required=True)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--max-iter", type=int, default=1000)
    a = p.parse_args()
    xtr, ytr = load(a.train)
    xte, yte = load(a.test)
    # liblinear works in float64: convert before the clock starts (compete reads float32 as it is).
    xtr64 = np.ascontiguousarray(xtr, dtype=np.float64)
    svm = LinearSVC(C=a.c, tol=a.tol, loss="squared_hinge", dual=True, max_iter=a.max_iter, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        svm.fit(xtr64, ytr)
        seconds = time.perf_counter() - t0
    errors = int((svm.predict(xte) != yte).sum())
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(json.dumps({
        "impl": f"sklearn {sklearn.__version__} LinearSVC", "c": a.c, "train": len(ytr), "width": xtr.shape[1],
        "fit_seconds": seconds, "test_errors": errors, "test_error_rate": errors / len(yte),
        "n_iter": int(svm.n_iter_), "converged": converged,
    }))


if __name__ == "__main__":
    main()
