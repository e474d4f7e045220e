"""compete.regions: counts equal `compete regions count` on the same file, patterns equal the
network's own, bounds equal `compete regions bounds --json`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import compete
from conftest import run_cli


def numpy_mlp(seed: int, sizes: list[int]) -> dict[str, np.ndarray]:
    """A state_dict of an nn.Sequential(Linear, ReLU, Linear, ...) as float32 arrays."""
    rng = np.random.default_rng(seed)
    sd = {}
    for j, (a, b) in enumerate(zip(sizes, sizes[1:])):
        sd[f"{2 * j}.weight"] = (rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32)
        sd[f"{2 * j}.bias"] = (0.3 * rng.standard_normal(b)).astype(np.float32)
    return sd


def relu_pattern(sd: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The ReLU activation pattern (z > 0 of every hidden pre-activation) at x, in float64."""
    keys = sorted({k.split(".")[0] for k in sd}, key=int)
    bits, h = [], x.astype(np.float64)
    for key in keys[:-1]:
        z = sd[f"{key}.weight"].astype(np.float64) @ h + sd[f"{key}.bias"]
        bits.append(z > 0)
        h = np.maximum(z, 0)
    return np.concatenate(bits)


def cli_count(cli: Path, tmp: Path, file: Path, competition: str, points: np.ndarray, flag: str, *extra: object) -> dict:
    """`compete regions count` on `file` through or along `points` (given literally); its summary."""
    out = tmp / f"cli-{flag}"
    pts = ";".join(",".join(repr(float(v)) for v in p) for p in points)
    idx = ",".join(str(i) for i in range(len(points)))
    run_cli(cli, "regions", "count", file, "--competition", competition, f"--points={pts}", f"--{flag}", idx, "-o", out, *extra)
    return json.loads((out / "summary.json").read_text())


def save_safetensors(sd: dict[str, np.ndarray], path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(sd, str(path))


def test_state_dict_counts_equal_the_cli_on_the_same_file(cli: Path, tmp_path: Path) -> None:
    sd = numpy_mlp(0, [6, 24, 24, 3])
    file = tmp_path / "net.safetensors"
    save_safetensors(sd, file)
    rng = np.random.default_rng(0)
    pts = 3 * rng.standard_normal((3, 6))
    for flag, domain in (("segment", {"segment": pts[:2]}), ("through", {"through": pts})):
        ours = compete.regions.count(sd, competition="relu", **domain)
        from_file = compete.regions.count(file, competition="relu", **domain)
        summary = cli_count(cli, tmp_path, file, "relu", pts[:2] if flag == "segment" else pts, flag)
        assert ours.count == from_file.count == summary["regions"] > 1
        assert ours.per_layer == summary["per_layer"]
        assert ours.patterns.shape == (ours.count, 48) and ours.patterns.dtype == np.bool_
        # Distinct patterns, one per region.
        assert len({p.tobytes() for p in ours.patterns}) == ours.count


def test_segment_pieces_carry_the_networks_own_patterns() -> None:
    sd = numpy_mlp(1, [4, 16, 16, 2])
    a, b = np.full(4, -2.0), np.full(4, 2.5)
    r = compete.regions.count(sd, segment=(a, b), competition="relu")
    assert r.t[0, 0] == 0.0 and r.t[-1, 1] == 1.0
    np.testing.assert_allclose(r.t[1:, 0], r.t[:-1, 1])  # the pieces tile [0, 1]
    for (t0, t1), pattern in zip(r.t, r.patterns):
        mid = a + 0.5 * (t0 + t1) * (b - a)
        np.testing.assert_array_equal(pattern, relu_pattern(sd, mid))


def test_plane_regions_cover_the_triangle() -> None:
    sd = numpy_mlp(2, [3, 10, 10, 2])
    pts = np.array([[0.0, 0, 0], [3, 0, 1], [0, 3, -1]])
    r = compete.regions.count(sd, through=pts, competition="relu")
    assert len(r.polygons) == r.count == len(r.areas)
    assert abs(r.areas.sum() - 0.5) < 1e-9  # the triangle (0,0), (1,0), (0,1) of plane coordinates
    for poly, pattern in zip(r.polygons, r.patterns):
        u, v = poly.mean(axis=0)
        x = pts[0] + u * (pts[1] - pts[0]) + v * (pts[2] - pts[0])
        np.testing.assert_array_equal(pattern, relu_pattern(sd, x))


def test_bounds_are_python_ints_equal_to_the_cli(cli: Path) -> None:
    ours = compete.regions.bounds(2, [3, 3], maxout=3)
    cli_rows = json.loads(run_cli(cli, "regions", "bounds", "--n0", 2, "--widths", "3,3", "--maxout", 3, "--json"))["rows"]
    assert set(ours) == {r["id"] for r in cli_rows}
    for r in cli_rows:
        v = ours[r["id"]]
        if r["value"] is None:
            assert v is None
        elif isinstance(v, int):
            assert str(v) == r["value"]
        else:
            assert v == pytest.approx(float(r["value"]))
    # A shallow network of 3 ReLUs on 2 inputs: at most C(3,0) + C(3,1) + C(3,2) = 7 regions.
    assert compete.regions.bounds(2, [3])["shallow_max"] == 7
    # Exact beyond 64 bits.
    big = compete.regions.bounds(10, [100] * 10)["relu_upper"]
    assert big == 2**1000


def test_bad_networks_and_domains_raise_value_error(tmp_path: Path) -> None:
    sd = numpy_mlp(3, [4, 8, 2])
    a, b = np.zeros(4), np.ones(4)
    with pytest.raises(ValueError, match="competition"):
        compete.regions.count(sd, segment=(a, b))
    with pytest.raises(ValueError, match="through and segment"):
        compete.regions.count(sd, competition="relu")
    with pytest.raises(ValueError, match=r"inputs of sizes \[4, 5\]"):
        compete.regions.count(sd, segment=(a, np.ones(5)), competition="relu")
    with pytest.raises(ValueError, match="point 0"):
        compete.regions.count(sd, segment=(np.ones(5), np.ones(5)), competition="relu")
    with pytest.raises(ValueError, match="maxout rank 3"):
        compete.regions.count(sd, segment=(a, b), competition="maxout:3")
    with pytest.raises(ValueError, match="lwta"):
        compete.regions.count(sd, segment=(a, b), competition="softmax")
    with pytest.raises(ValueError, match=r"tensor \"0\.running_mean\" is not a Linear"):
        compete.regions.count({**sd, "0.running_mean": np.zeros(8, np.float32)}, segment=(a, b), competition="relu")
    with pytest.raises(ValueError, match=r"tensor 0\.num_batches_tracked = an array of dtype int64"):
        compete.regions.count({**sd, "0.num_batches_tracked": np.zeros((), np.int64)}, segment=(a, b), competition="relu")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        compete.regions.count(tmp_path / "missing.safetensors", segment=(a, b), competition="relu")
    with pytest.raises(ValueError, match="invalid model"):
        compete.regions.count(42, segment=(a, b))



def test_pytorch_sequential_equals_the_cli_on_its_saved_file(cli: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 20), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(20, 20), torch.nn.ReLU(), torch.nn.Linear(20, 2)
    )
    # A few steps of training, as a user would have it.
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(256, 5), torch.randint(0, 2, (256,))
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    file = tmp_path / "torch.safetensors"
    save_file(model.state_dict(), str(file))
    pts = x[:3]
    ours = compete.regions.count(model, through=pts, margin=0.5)  # nn.ReLU: no competition= needed
    summary = cli_count(cli, tmp_path, file, "relu", pts.numpy(), "through", "--margin", 0.5)
    assert ours.count == summary["regions"] > 1
    assert ours.per_layer == summary["per_layer"]
    assert compete.regions.count(model.state_dict(), through=pts, margin=0.5, competition="relu").count == ours.count

    class Wrapper(torch.nn.Module):  # a model holding its Sequential: state_dict names net.0.weight, ...
        def __init__(self, net: torch.nn.Sequential) -> None:
            super().__init__()
            self.net = net

    assert compete.regions.count(Wrapper(model), through=pts, margin=0.5).count == ours.count


def test_pytorch_maxout_and_refused_modules() -> None:
    torch = pytest.importorskip("torch")

    class Maxout(torch.nn.Module):
        def __init__(self, rank: int) -> None:
            super().__init__()
            self.rank = rank

        def forward(self, x):  # type: ignore[no-untyped-def]
            return x.view(x.shape[0], -1, self.rank).max(-1).values

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 12), Maxout(2), torch.nn.Linear(6, 2))
    a, b = torch.tensor([-2.0, 0.0, 1.0]), torch.tensor([2.0, 1.0, -1.0])
    r = compete.regions.count(model, segment=(a, b), competition="maxout:2")
    assert r.patterns.shape[1] == 12 and r.count > 1
    # The winning piece of each unit at the middle of each piece.
    for (t0, t1), pattern in zip(r.t, r.patterns):
        x = a + 0.5 * float(t0 + t1) * (b - a)
        z = model[0](x).detach().view(6, 2)
        want = torch.nn.functional.one_hot(z.argmax(-1), 2).bool().reshape(-1).numpy()
        np.testing.assert_array_equal(pattern, want)
    with pytest.raises(ValueError, match="competition"):
        compete.regions.count(model, segment=(a, b))
    with pytest.raises(ValueError, match="expected nothing, or the model's own"):
        compete.regions.count(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)), segment=(a, b), competition="abs")
    with pytest.raises(ValueError, match="module 1 = BatchNorm1d"):
        compete.regions.count(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)), segment=(a, b))
