#!/usr/bin/env python3
"""PyTorch reference timing of one SGD-with-momentum training step of a competitive MLP.

The peer of `compete bench`: a 784-1000-1000-10 multilayer perceptron (by default) trained with
softmax cross-entropy (mean over the batch), SGD with momentum 0.9 and learning rate 0.01, no dropout,
with one of three hidden-layer competitions:

* ``relu``: max(0, x).
* ``lwta:K`` (local winner-take-all, block K): in each block of K consecutive units only the largest
  passes, the others output 0; the gradient flows only through the winner. Ties go to the first
  index of the block (see ``lwta`` below).
* ``maxout:K`` (rank K): each of the n units of a hidden layer is the max of K pieces, so the layer's
  linear map computes n*K pre-activations; the pieces of unit j are pre-activations jK .. jK+K-1
  (consecutive).

One timed step is: ``zero_grad``, forward, loss, backward, ``optimizer.step()``. The script reports the
median, 10th and 90th percentile of ``--steps`` timed steps after ``--warmup`` untimed ones and, with
``--epoch``, the wall time of one epoch over ``--examples`` random MNIST-sized examples
(examples / batch steps, shuffled once per epoch).

Usage (after ``benches/setup_venv.sh``)::

    benches/.venv/bin/python benches/pytorch_mlp.py --threads 2 --competition all --epoch --json

With ``--json`` it prints one JSON object per competition, one per line, with the fields
peer, version, threads, batch, widths, competition, median_ms, p10_ms, p90_ms, epoch_s (null without
``--epoch``), steps, warmup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

COMPETITIONS = ("relu", "lwta:2", "maxout:2")


def parse_competition(text: str) -> tuple[str, int]:
    """Parse ``relu``, ``lwta:K`` or ``maxout:K`` into (kind, K); K is 1 for relu."""
    text = text.strip().lower()
    if text == "relu":
        return ("relu", 1)
    kind, sep, k = text.partition(":")
    if kind in ("lwta", "maxout") and sep:
        try:
            size = int(k)
        except ValueError:
            size = 0
        if size >= 2:
            return (kind, size)
        raise argparse.ArgumentTypeError(f"competition {text!r}: the block size / rank after ':' must be an integer >= 2")
    raise argparse.ArgumentTypeError(f"competition {text!r}: expected relu, lwta:K, maxout:K or all")


def parse_widths(text: str) -> list[int]:
    """Parse ``784,1000,1000,10`` into a list of at least two positive integers."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    if len(widths) < 2 or any(w <= 0 for w in widths):
        raise argparse.ArgumentTypeError(f"widths {text!r}: expected at least two positive integers separated by commas")
    return widths


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=positive_int, default=1, help="intra-op and inter-op threads (also OMP/MKL_NUM_THREADS); default 1")
    p.add_argument("--batch", type=positive_int, default=100, help="mini-batch size; default 100")
    p.add_argument("--widths", type=parse_widths, default=parse_widths("784,1000,1000,10"), help="layer widths, input first; hidden widths count units after the competition; default 784,1000,1000,10")
    p.add_argument("--competition", default="all", help="relu | lwta:K | maxout:K | all (= relu, lwta:2, maxout:2); default all")
    p.add_argument("--steps", type=positive_int, default=200, help="timed steps; default 200")
    p.add_argument("--warmup", type=non_negative_int, default=20, help="untimed steps before timing; default 20")
    p.add_argument("--epoch", action="store_true", help="also time one epoch of --examples/--batch steps")
    p.add_argument("--examples", type=positive_int, default=50000, help="examples in the random data set (the epoch); default 50000")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate; default 0.01")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum; default 0.9")
    p.add_argument("--seed", type=int, default=0, help="seed of the random data and weights; default 0")
    p.add_argument("--json", action="store_true", help="print one JSON object per competition per line")
    p.add_argument("--selftest", action="store_true", help="check the competitions on small hand-made inputs and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        comps = list(COMPETITIONS) if args.competition.strip().lower() == "all" else [args.competition]
        parsed = [parse_competition(c) for c in comps]
    except argparse.ArgumentTypeError as e:
        print(f"pytorch_mlp.py: --competition: {e}", file=sys.stderr)
        return 2

    # The thread counts must be fixed before torch (and its OpenMP / MKL runtimes) start.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch  # noqa: PLC0415  (imported late on purpose, see above)

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError as e:  # only possible if inter-op work already ran, which it has not here
        print(f"pytorch_mlp.py: warning: set_num_interop_threads({args.threads}): {e}", file=sys.stderr)

    bench = Bench(torch)
    if args.selftest:
        bench.selftest()
        print("pytorch_mlp.py selftest: all checks passed")
        return 0

    for (kind, k), name in zip(parsed, comps):
        hidden = args.widths[1:-1]
        if kind == "lwta" and any(h % k for h in hidden):
            print(f"pytorch_mlp.py: --competition {name}: hidden widths {hidden} must be multiples of the block size {k}", file=sys.stderr)
            return 2
    x_all, y_all = bench.data(args.examples, args.widths[0], args.widths[-1], args.seed)

    for (kind, k), name in zip(parsed, comps):
        result = bench.run(kind, k, args, x_all, y_all)
        result["competition"] = f"{kind}:{k}" if kind != "relu" else "relu"
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            epoch = f", epoch {result['epoch_s']:.2f} s" if result["epoch_s"] is not None else ""
            print(
                f"{result['competition']:>9}: median {result['median_ms']:.3f} ms/step "
                f"(p10 {result['p10_ms']:.3f}, p90 {result['p90_ms']:.3f}){epoch} "
                f"[torch {result['version']}, {args.threads} thread(s), batch {args.batch}]",
                flush=True,
            )
    return 0


class Bench:
    """Model construction, competitions and timing loops (holds the imported torch module)."""

    def __init__(self, torch):
        self.torch = torch
        self.nn = torch.nn
        self.F = torch.nn.functional

    # ---- competitions ------------------------------------------------------------------------------

    def lwta(self, h, k: int):
        """Local winner-take-all over blocks of k consecutive units of the rows of h [B, n].

        Idiomatic PyTorch: view as [B, n/k, k], build the mask of the block maxima and multiply, so the
        gradient reaches the winner only (d(h*mask)/dh = mask). Tie rule: the first index wins. For k == 2
        that costs one comparison (``a >= b`` picks the first on a tie); for k > 2 the mask compares with
        the max and then keeps the first maximum with a cumulative sum.
        """
        torch = self.torch
        b, n = h.shape
        v = h.view(b, n // k, k)
        if k == 2:
            first = v[..., 0:1] >= v[..., 1:2]
            mask = torch.cat((first, ~first), dim=-1)
        else:
            is_max = v == v.amax(dim=-1, keepdim=True)
            mask = is_max & (is_max.cumsum(dim=-1) == 1)
        return (v * mask).view(b, n)

    def maxout(self, h, k: int):
        """Maxout of rank k: unit j of the rows of h [B, n*k] is the max of pre-activations jk .. jk+k-1."""
        b, nk = h.shape
        return h.view(b, nk // k, k).amax(dim=-1)

    def model(self, widths: list[int], kind: str, k: int):
        """The MLP: Linear layers with the competition after each hidden one (maxout widens the Linear by k)."""
        nn = self.nn
        bench = self

        class Mlp(nn.Module):
            def __init__(self):
                super().__init__()
                layers = []
                for i in range(len(widths) - 1):
                    hidden = i < len(widths) - 2
                    out = widths[i + 1] * (k if (hidden and kind == "maxout") else 1)
                    layers.append(nn.Linear(widths[i], out))
                self.layers = nn.ModuleList(layers)

            def forward(self, x):
                for layer in self.layers[:-1]:
                    h = layer(x)
                    if kind == "relu":
                        x = bench.F.relu(h)
                    elif kind == "lwta":
                        x = bench.lwta(h, k)
                    else:
                        x = bench.maxout(h, k)
                return self.layers[-1](x)

        return Mlp()

    # ---- timing ------------------------------------------------------------------------------------

    def data(self, examples: int, n_in: int, n_out: int, seed: int):
        """Random MNIST-sized data: pixels uniform in [0, 1), labels uniform in 0..n_out-1."""
        g = self.torch.Generator().manual_seed(seed)
        x = self.torch.rand(examples, n_in, generator=g)
        y = self.torch.randint(0, n_out, (examples,), generator=g)
        return x, y

    def run(self, kind: str, k: int, args, x_all, y_all) -> dict:
        """Time one competition; returns the JSON record (competition filled in by the caller)."""
        torch = self.torch
        torch.manual_seed(args.seed)
        model = self.model(args.widths, kind, k)
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
        loss_fn = self.F.cross_entropy
        n = x_all.shape[0]
        bsz = args.batch
        n_batches = max(1, n // bsz)

        def step(x, y):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        # Timed steps run on consecutive slices of the data set (views, no copy).
        def batch(i):
            j = (i % n_batches) * bsz
            return x_all[j : j + bsz], y_all[j : j + bsz]

        for i in range(args.warmup):
            step(*batch(i))
        times = []
        for i in range(args.steps):
            x, y = batch(args.warmup + i)
            t0 = time.perf_counter()
            step(x, y)
            times.append(time.perf_counter() - t0)
        times_ms = sorted(t * 1e3 for t in times)

        epoch_s = None
        if args.epoch:
            # One epoch: shuffle once, then examples/batch steps on gathered mini-batches (the gather is timed).
            t0 = time.perf_counter()
            perm = torch.randperm(n)
            for i in range(n // bsz):
                idx = perm[i * bsz : (i + 1) * bsz]
                step(x_all.index_select(0, idx), y_all.index_select(0, idx))
            epoch_s = time.perf_counter() - t0

        return {
            "peer": "pytorch",
            "version": torch.__version__,
            "threads": args.threads,
            "batch": bsz,
            "widths": args.widths,
            "competition": None,
            "median_ms": percentile(times_ms, 50),
            "p10_ms": percentile(times_ms, 10),
            "p90_ms": percentile(times_ms, 90),
            "epoch_s": epoch_s,
            "steps": args.steps,
            "warmup": args.warmup,
        }

    # ---- self-test ---------------------------------------------------------------------------------

    def selftest(self) -> None:
        """Checks of the competitions on hand-made inputs (raises AssertionError on failure)."""
        torch = self.torch
        h = torch.tensor([[1.0, 3.0, -2.0, -5.0, 4.0, 4.0], [0.5, -0.5, 2.0, 7.0, -1.0, -1.0]], requires_grad=True)
        out = self.lwta(h, 2)
        want = torch.tensor([[0.0, 3.0, -2.0, 0.0, 4.0, 0.0], [0.5, 0.0, 0.0, 7.0, -1.0, 0.0]])
        assert torch.equal(out, want), f"lwta:2 forward {out} != {want}"
        out.sum().backward()
        want_grad = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]])
        assert torch.equal(h.grad, want_grad), f"lwta:2 grad {h.grad} != {want_grad}"
        # Winner gradient exactly 1, losers 0, also for a winner equal to 0.
        z = torch.tensor([[0.0, -1.0]], requires_grad=True)
        self.lwta(z, 2).sum().backward()
        assert torch.equal(z.grad, torch.tensor([[1.0, 0.0]])), f"lwta:2 grad at a zero winner {z.grad}"

        h3 = torch.tensor([[1.0, 5.0, 5.0, 2.0, 0.0, -1.0]], requires_grad=True)
        out3 = self.lwta(h3, 3)
        assert torch.equal(out3, torch.tensor([[0.0, 5.0, 0.0, 2.0, 0.0, 0.0]])), f"lwta:3 forward {out3}"
        out3.sum().backward()
        assert torch.equal(h3.grad, torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]])), f"lwta:3 grad {h3.grad}"

        m = torch.tensor([[1.0, 3.0, -2.0, -5.0], [0.0, 0.0, 9.0, 8.0]], requires_grad=True)
        mo = self.maxout(m, 2)
        assert torch.equal(mo, torch.tensor([[3.0, -2.0], [0.0, 9.0]])), f"maxout:2 forward {mo}"
        mo.sum().backward()
        g = m.grad
        assert torch.equal(g[0], torch.tensor([0.0, 1.0, 1.0, 0.0])), f"maxout:2 grad {g}"
        assert torch.equal(g[1, 2:], torch.tensor([1.0, 0.0])), f"maxout:2 grad {g}"
        assert float(g[1, :2].sum()) == 1.0, f"maxout:2 tie grad must sum to 1: {g}"

        # Shapes of the three models and one step that lowers the loss on a fixed batch.
        x = torch.rand(8, 12)
        y = torch.randint(0, 3, (8,))
        for kind, k in (("relu", 1), ("lwta", 2), ("maxout", 2)):
            torch.manual_seed(0)
            model = self.model([12, 6, 4, 3], kind, k)
            widths = [layer.out_features for layer in model.layers]
            want_w = [12, 8, 3] if kind == "maxout" else [6, 4, 3]
            assert widths == want_w, f"{kind}: Linear widths {widths} != {want_w}"
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            first = None
            for _ in range(20):
                opt.zero_grad()
                loss = self.F.cross_entropy(model(x), y)
                first = loss.item() if first is None else first
                loss.backward()
                opt.step()
            assert loss.item() < first, f"{kind}: loss did not decrease ({first} -> {loss.item()})"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile of sorted values, linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


if __name__ == "__main__":
    sys.exit(main())
