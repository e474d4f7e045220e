"""Type stubs of compete's compiled module (``python/src/lib.rs``)."""

import os
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

def hamming_topk(
    database: npt.NDArray[np.uint8], queries: npt.NDArray[np.uint8], k: int, bits: int | None = None
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Exact k-nearest neighbours by Hamming distance of packed binary codes.

    ``database`` and ``queries``: uint8 ``[n, bytes]`` as ``np.packbits(flags, axis=1)`` writes
    them; ``bits`` the code length (default ``8 * bytes``; padding bits must be 0). Returns
    ``(distances, indices)``, int32 and int64 ``[queries, k]``, nearest first, ties by the lower
    database index (FAISS ``IndexBinaryFlat.search``'s dtypes and order). Runs without the GIL on
    compete's thread pool (``RAYON_NUM_THREADS``)."""

def load_data(
    source: str = "sample", split: str = "test", validation: int | None = None, l2_normalize: bool = False
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """``(x, labels)`` of one split (``train``, ``validation``, ``test``) of a data source
    (``sample``, ``mnist:DIR``, ``DIR``, ``synthetic:NAME``) as the command line reads it."""

def submasks(
    checkpoint: str | os.PathLike[str], x: npt.ArrayLike, layer: int = -1, packed: bool = False
) -> npt.NDArray[np.bool_] | npt.NDArray[np.uint8]:
    """The submasks (which competitors won) of hidden layer ``layer`` (0 = closest to the input,
    negative from the last) of a compete checkpoint for the batch ``x``: bool ``[n, bits]``, or
    packed uint8 ``[n, ceil(bits / 8)]`` for :func:`hamming_topk`."""

def features(checkpoint: str | os.PathLike[str], x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The features of a compete checkpoint's encoder for the batch ``x`` (float32 ``[n, width]``),
    the numbers ``compete features`` writes."""

def checkpoint_info(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"kind", "network", "inputs", "hidden_layers", "classifier"}`` of a compete checkpoint."""

def regions_count(
    points: npt.NDArray[np.float64],
    domain: str,
    path: str | os.PathLike[str] | None = None,
    tensors: dict[str, npt.NDArray[np.float32]] | None = None,
    competition: str | None = None,
    margin: float = 0.0,
    tolerance: float = 1e-9,
    max_regions: int = 5_000_000,
) -> dict[str, Any]:
    """The exact regions on a segment (``domain="segment"``, 2 points) or a plane (``"plane"``, 3
    points); see :func:`compete.regions.count`."""

def regions_bounds(
    n0: int, widths: list[int], maxout: int | None = None, shallow_units: int | None = None
) -> list[dict[str, Any]]:
    """The rows of ``compete regions bounds --json`` (values as decimal strings)."""

def run_experiment(
    origin: str | os.PathLike[str],
    text: str | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    quiet: bool = False,
    data: str | None = None,
) -> str:
    """Runs the experiment file ``origin`` (or the TOML ``text``) as ``compete run``; returns the
    run folder."""

def toml_from_json(json: str) -> str:
    """A config dict (as JSON) as the TOML text of an experiment file."""
