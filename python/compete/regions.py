"""Linear regions of piecewise linear networks (paper E): exact counts on a segment or a plane, and
the bounds as exact Python ints.

A network is a PyTorch ``nn.Sequential`` of ``nn.Linear`` layers with ReLU (or another
piecewise linear competition) between them, its ``state_dict``, a safetensors file of one (as
``safetensors.torch.save_file(model.state_dict(), path)`` writes), or a compete checkpoint. Counting
is exact: every activation region the segment or the plane meets, found by splitting it layer by
layer (``compete regions count``), not by sampling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from . import _compete

__all__ = ["Regions", "bounds", "bound_rows", "count"]

# Modules that are the identity in evaluation mode: skipped when reading a Sequential.
_IDENTITY = {"Identity", "Dropout", "Flatten"}


@dataclass(frozen=True)
class Regions:
    """The exact linear regions of a network on a segment or a plane.

    ``count`` regions (activation patterns meeting the domain: with positive length on a segment,
    positive area on a plane); ``per_layer[l]`` regions after the first ``l + 1`` hidden layers;
    ``patterns`` the activation pattern of every region (bool ``[count, bits]``, the hidden layers'
    pre-activations concatenated from the input side: ReLU ``z > 0``, maxout the winning piece).
    On a segment ``t`` holds each region's interval ``[t0, t1]`` of ``x0 + t (x1 - x0)``; on a plane
    ``polygons`` holds each region's vertices ``[v, 2]`` in plane coordinates (``x0`` at (0, 0),
    ``x1`` at (1, 0), ``x2`` at (0, 1)) and ``areas`` their areas.
    """

    count: int
    per_layer: list[int]
    network: str
    patterns: np.ndarray
    t: np.ndarray | None = None
    polygons: list[np.ndarray] | None = field(default=None, repr=False)
    areas: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return self.count


def count(
    model: Any,
    *,
    through: Sequence[Any] | None = None,
    segment: Sequence[Any] | None = None,
    competition: str | None = None,
    margin: float = 0.0,
    tolerance: float = 1e-9,
    max_regions: int = 5_000_000,
) -> Regions:
    """Counts the linear regions of ``model`` exactly on a segment or a plane.

    ``model``: a PyTorch ``nn.Sequential`` of ``nn.Linear`` layers and ReLUs (``nn.Dropout``,
    ``nn.Identity``, ``nn.Flatten`` are skipped), a ``state_dict`` of one, the path of a safetensors
    file of one, or the path of a compete checkpoint. ``competition`` names the hidden layers'
    activation when the model does not show it: ``relu`` (read from ``nn.ReLU``), ``abs``,
    ``lwta:<block>``, ``maxout:<rank>`` (a hidden ``Linear`` with ``units * rank`` outputs, unit
    ``j`` owning outputs ``j * rank .. (j + 1) * rank``, as ``x.view(-1, units, rank).max(-1)``).

    ``segment=(x0, x1)``: the segment between two inputs. ``through=(x0, x1, x2)``: the triangle
    of three inputs, or with ``margin > 0`` the box ``[-margin, 1 + margin]^2`` of their plane.
    Inputs are arrays or tensors of the model's input size (images are flattened).
    ``tolerance`` is the geometry's relative tolerance; ``max_regions`` a memory guard.
    """
    if (through is None) == (segment is None):
        raise ValueError("invalid domain = both or neither of through and segment: expected through=(x0, x1, x2) or segment=(x0, x1)")
    domain, points = ("plane", through) if through is not None else ("segment", segment)
    vectors = [_vector(p) for p in points]
    sizes = sorted({v.size for v in vectors})
    if len(sizes) > 1:
        raise ValueError(f"invalid {domain} points = inputs of sizes {sizes}: expected inputs of one size, the model's input size")
    pts = np.stack(vectors) if vectors else np.zeros((0, 0))
    path, tensors, competition = _network(model, competition)
    out = _compete.regions_count(pts, domain, path, tensors, competition, float(margin), float(tolerance), int(max_regions))
    return Regions(
        count=out["regions"],
        per_layer=list(out["per_layer"]),
        network=out["network"],
        patterns=out["patterns"],
        t=out.get("t"),
        polygons=out.get("polygons"),
        areas=out.get("areas"),
    )


def bound_rows(n0: int, widths: Sequence[int], maxout: int | None = None, shallow_units: int | None = None) -> list[dict[str, Any]]:
    """Every bound of ``compete regions bounds`` as a dict (``id``, ``name``, ``reference``,
    ``value`` as an exact int, a float for the regions-per-parameter ratios, or None where the bound
    does not apply; ``log10``; ``notes``)."""
    rows = _compete.regions_bounds(int(n0), [int(w) for w in widths], maxout, shallow_units)
    for r in rows:
        v = r["value"]
        r["value"] = None if v is None else (float(v) if any(c in v for c in ".e") else int(v))
    return rows


def bounds(n0: int, widths: Sequence[int], maxout: int | None = None, shallow_units: int | None = None) -> dict[str, int | float | None]:
    """Paper E's bounds on the number of linear regions for ``n0`` inputs and hidden ``widths``,
    ``{id: value}``: exact Python ints (``theorem4``, ``eq7``, ``relu_upper``, ...; with ``maxout=k``
    the maxout rows too), floats for the regions-per-parameter ratios, None where a bound does not
    apply (see :func:`bound_rows` for the notes)."""
    return {r["id"]: r["value"] for r in bound_rows(n0, widths, maxout, shallow_units)}


def _vector(p: Any) -> np.ndarray:
    """One input as a flat float64 vector (NumPy arrays, lists, PyTorch tensors)."""
    if hasattr(p, "detach"):
        p = p.detach().cpu().numpy()
    return np.asarray(p, dtype=np.float64).reshape(-1)


def _array(name: str, t: Any) -> np.ndarray:
    """The tensor `name` of a state_dict as a float32 array."""
    if hasattr(t, "detach"):
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.float()
        t = t.numpy()
    a = np.asarray(t)
    if a.dtype.kind != "f":
        raise ValueError(
            f"invalid tensor {name} = an array of dtype {a.dtype}: expected the floating-point weights and biases "
            "of nn.Linear layers (batch norm statistics and other buffers are not part of a piecewise linear MLP)"
        )
    return np.ascontiguousarray(a, dtype=np.float32)


def _network(model: Any, competition: str | None) -> tuple[str | None, dict[str, np.ndarray] | None, str | None]:
    """(path, tensors, competition) for the native counter."""
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model), None, competition
    if isinstance(model, Mapping):
        return None, {str(k): _array(str(k), v) for k, v in model.items()}, competition
    if hasattr(model, "state_dict") and hasattr(model, "named_children"):
        seen = _sequential_competition(model)
        if seen is not None and competition is not None and seen != competition:
            raise ValueError(f"invalid competition = {competition}: expected nothing, or the model's own ({seen})")
        return None, {k: _array(k, v) for k, v in model.state_dict().items()}, competition or seen
    raise ValueError(
        f"invalid model = a {type(model).__name__}: expected a PyTorch nn.Sequential, a state_dict, "
        "or the path of a safetensors file or compete checkpoint"
    )


def _sequential_competition(model: Any) -> str | None:
    """The activation a Sequential shows between its Linear layers (``relu`` for nn.ReLU), None
    when it shows none; other modules are refused by name."""
    found: set[str] = set()
    for name, child in model.named_children():
        kind = type(child).__name__
        if kind == "Linear" or kind in _IDENTITY:
            continue
        if kind == "Sequential":  # a model holding its Sequential (`self.net = nn.Sequential(...)`)
            inner = _sequential_competition(child)
            if inner is not None:
                found.add(inner)
            continue
        if kind == "ReLU":
            found.add("relu")
        elif next(iter(child.parameters(recurse=True)), None) is None:
            # A parameter-free activation of the user's own (maxout, LWTA): named by `competition`.
            continue
        else:
            raise ValueError(
                f"invalid model module {name} = {kind}: expected nn.Linear layers with parameter-free activations "
                "(nn.ReLU, or maxout / LWTA named by competition=)"
            )
    if len(found) > 1:
        raise ValueError(f"invalid model = activations {sorted(found)}: expected one competition for every hidden layer")
    return found.pop() if found else None
