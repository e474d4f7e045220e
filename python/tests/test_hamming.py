"""compete.hamming_topk against a NumPy brute force, and its refusals."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import compete


def brute(database: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distance by XOR and popcount, then a stable sort: nearest first, ties by index."""
    pop = np.unpackbits((queries[:, None, :] ^ database[None, :, :]), axis=2).sum(axis=2)
    order = np.argsort(pop, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pop, order, axis=1), order


def codes(rng: np.random.Generator, n: int, bits: int, density: float = 0.5) -> np.ndarray:
    return np.packbits(rng.random((n, bits)) < density, axis=1)


@pytest.mark.parametrize("bits", [8, 64, 100, 256, 1000])
@pytest.mark.parametrize("queries", [3, 40])  # below and above the bit-sliced method's threshold
def test_equals_numpy_brute_force(bits: int, queries: int) -> None:
    rng = np.random.default_rng(bits + queries)
    # Sparse codes give many equal distances, so the tie order is checked too.
    db, q = codes(rng, 2500, bits, 0.1), codes(rng, queries, bits, 0.1)
    d, i = compete.hamming_topk(db, q, 17, bits=bits)
    want_d, want_i = brute(db, q, 17)
    assert d.dtype == np.int32 and i.dtype == np.int64
    assert d.shape == i.shape == (queries, 17)
    np.testing.assert_array_equal(d, want_d)
    np.testing.assert_array_equal(i, want_i)


def test_non_contiguous_arrays_give_the_same_answer() -> None:
    rng = np.random.default_rng(1)
    db, q = codes(rng, 3000, 128), codes(rng, 20, 128)
    want = compete.hamming_topk(np.ascontiguousarray(db[::2]), q, 5)
    for view in (db[::2], np.asfortranarray(db[::2])):
        assert not view.flags.c_contiguous
        got = compete.hamming_topk(view, q, 5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(want[0], brute(db[::2], q, 5)[0])


def test_misaligned_and_sliced_arrays_are_converted_not_misread() -> None:
    rng = np.random.default_rng(4)
    db, q = codes(rng, 1000, 256), codes(rng, 30, 256)
    want = brute(db, q, 7)
    raw = np.zeros(db.size + 1, np.uint8)
    misaligned = raw[1:].reshape(db.shape)  # C-contiguous, but not on an 8-byte boundary
    misaligned[:] = db
    wider = np.zeros((1000, 40), np.uint8)
    wider[:, :32] = db
    for view in (misaligned, wider[:, :32]):
        d, i = compete.hamming_topk(view, q, 7)
        np.testing.assert_array_equal(d, want[0])
        np.testing.assert_array_equal(i, want[1])


def test_wrong_dtype_shape_and_arguments_raise_value_error() -> None:
    rng = np.random.default_rng(2)
    db, q = codes(rng, 50, 64), codes(rng, 4, 64)
    with pytest.raises(ValueError, match=r"database.*dtype.*uint8"):
        compete.hamming_topk(db.astype(np.float32), q, 3)
    with pytest.raises(ValueError, match=r"queries.*dtype"):
        compete.hamming_topk(db, q.astype(np.int64), 3)
    with pytest.raises(ValueError, match=r"database.*shape \[400\]"):
        compete.hamming_topk(db.reshape(-1), q, 3)
    with pytest.raises(ValueError, match=r"NumPy array"):
        compete.hamming_topk(db.tolist(), q, 3)
    with pytest.raises(ValueError, match=r"query codes"):
        compete.hamming_topk(db, codes(rng, 4, 128), 3)
    with pytest.raises(ValueError, match=r"invalid k = 51"):
        compete.hamming_topk(db, q, 51)
    with pytest.raises(ValueError, match=r"invalid k = 0"):
        compete.hamming_topk(db, q, 0)
    # 60-bit codes use 4 bits of their last byte: a set padding bit is refused.
    padded, q60 = codes(rng, 50, 60), codes(rng, 4, 60)
    compete.hamming_topk(padded, q60, 3, bits=60)
    padded[7, -1] |= 1
    with pytest.raises(ValueError, match=r"row 7.*padding"):
        compete.hamming_topk(padded, q60, 3, bits=60)
    with pytest.raises(ValueError, match=r"bytes per row for 70-bit"):
        compete.hamming_topk(db, q, 3, bits=70)


def test_the_search_releases_the_gil() -> None:
    rng = np.random.default_rng(3)
    db, q = codes(rng, 200_000, 256), codes(rng, 4000, 256)

    def spin_while(worker: threading.Thread) -> tuple[int, float]:
        """Iterations of a Python loop on this thread while `worker` runs, and the time."""
        n, t0 = 0, time.perf_counter()
        worker.start()
        while worker.is_alive():
            n += 1
        return n, time.perf_counter() - t0

    # The loop's rate beside a thread that holds no GIL (it sleeps).
    alone, t_alone = spin_while(threading.Thread(target=time.sleep, args=(0.2,)))
    rate = alone / t_alone
    result: list[object] = []
    count, elapsed = spin_while(threading.Thread(target=lambda: result.append(compete.hamming_topk(db, q, 10))))
    assert result, "the search did not return"
    assert elapsed > 0.1, f"the search took {elapsed:.3f} s, too short to tell"
    # Measured on 2 cores: with the GIL held for the search (a mutant), the loop ran 0.13 of its
    # rate (only while the arrays are read and before the search starts); released, 0.93.
    assert count > 0.4 * rate * elapsed, f"{count} iterations in {elapsed:.3f} s at {rate:.0f}/s alone"
