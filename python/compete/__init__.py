"""compete: locally competitive neural networks, from Python.

The functions run the compete library (Rust) on NumPy arrays, with the GIL released while they
compute, and raise ``ValueError`` for bad arguments (``OSError`` / ``FileNotFoundError`` for files
that cannot be read, ``MemoryError`` for work that would not fit) with the same messages as the
``compete`` command line.

- :func:`hamming_topk`: exact Hamming k-nearest neighbours of packed binary codes (FAISS
  ``IndexBinaryFlat``'s answers, faster);
- :mod:`compete.regions`: exact linear regions of a PyTorch ``nn.Sequential`` MLP (or a compete
  checkpoint) on a segment or a plane, and paper E's bounds as Python ints;
- :func:`submasks`, :func:`features`, :func:`checkpoint_info`: read any compete checkpoint;
- :func:`train`: run an experiment (a dict or a TOML file) into a run folder, as ``compete run``;
- :func:`load_data`: the examples of a data source (the MNIST sample shipped with compete, MNIST
  IDX files, synthetic sets) as arrays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import _compete
from ._compete import __version__, checkpoint_info, features, hamming_topk, load_data, submasks
from . import regions

__all__ = [
    "__version__",
    "checkpoint_info",
    "features",
    "hamming_topk",
    "load_data",
    "regions",
    "submasks",
    "train",
]


def train(
    config: Mapping[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    quiet: bool = False,
    data: str | None = None,
) -> Path:
    """Runs an experiment as ``compete run`` does and returns its run folder.

    ``config`` is the path of an experiment file (TOML, any ``kind``: ``train``, ``phases``,
    ``sinusoid``, ``anomaly``) or a dict of the same sections, e.g.
    ``{"name": "relu", "data": {"source": "sample"}, "model": {"hidden": [256]}, "train": {"epochs": 3}}``.
    ``out`` is the run folder (default ``runs/<name>``); ``resume`` continues the run found there;
    ``data`` replaces ``[data] source``; ``quiet`` prints nothing (otherwise the CLI's progress goes
    to standard error). The folder holds what the CLI writes: ``config.toml``, ``progress.json``,
    ``checkpoints/best.safetensors``, ``checkpoints/last.safetensors``, curves.

    Ctrl-C (``KeyboardInterrupt``) stops the run at its next step; the finished epochs are kept and
    ``resume=True`` continues from them.
    """
    out_arg = None if out is None else os.fspath(out)
    if isinstance(config, Mapping):
        text = _compete.toml_from_json(json.dumps(_plain(config)))
        folder = _compete.run_experiment("<config dict>", text, out_arg, resume, quiet, data)
    elif isinstance(config, (str, os.PathLike)):
        folder = _compete.run_experiment(os.fspath(config), None, out_arg, resume, quiet, data)
    else:
        raise ValueError(
            f"invalid config = a {type(config).__name__}: expected a dict of sections or the path of a TOML experiment file"
        )
    return Path(folder)


def _plain(value: Any) -> Any:
    """A config with NumPy scalars and tuples turned into what JSON (and TOML) hold."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
