#!/usr/bin/env python3
"""PyTorch reference timing of the layers of `compete bench-layers` (issue 10), forward + backward.

Each op is one layer on MNIST-sized maps, batch 100, float32, on the CPU, written as a PyTorch user
would (``torch.nn.functional``). One timed step is: clear the gradients (``.grad = None``), forward,
``y.backward(grad_out)`` with a fixed random output gradient, which computes the gradients of the
weights, the biases and the input (the input has ``requires_grad``). Ops (same names as compete's):

* ``conv5x5_1to128``: ``F.conv2d`` 1->128, 5x5, padding 2, on 1x28x28.
* ``conv5x5_128to128``: ``F.conv2d`` 128->128, 5x5, padding 2, on 128x28x28.
* ``convT11x11_128to1``: ``F.conv_transpose2d`` 128->1, 11x11, padding 5 (output 1x28x28).
* ``maxpool4s4_128`` / ``maxpool4s2_128``: ``F.max_pool2d`` 4x4, stride 4 / 2, on 128x28x28.
* ``local9x9_1to16`` / ``local9x9_16to16``: a locally connected 9x9 layer, C->16 units per location,
  padding 4 (28x28 locations): ``F.unfold`` + ``torch.einsum("nkl,lok->nol")`` with a per-location
  weight ``[784, 16, C*81]`` and a bias ``[16, 28, 28]``.
* ``drsae_784x400x11`` (paper D): one SGD step of the DrSAE 784-400^11-10, fine-tuning loss by
  autograd through the unrolled iterations, with the norm projections.
* ``activation_1064x2`` (paper C): one step of the local competitive rule (eq. 19) on a
  1064-1064(std-abs)-1064 network (784 pixels + a 10 x 28 label code in, two layers of 1064, batch
  100), no autograd: per layer ``y = x @ w.T``, ``r = x - y @ w``, ``w += lr/B y.T @ r``, std-abs
  with running statistics between the layers (the authors' code).
* ``activation_classify_1064x2``: the classification of 100 images by 10 label passes (eq. 10): the
  network's output activation for each label, argmax.
* ``activation_generate_1064x2``: 100 Adam steps of generation (eq. 11, 15, 16) for 100 images:
  autograd of the objective (output activation with multiplicative noise, the norm penalty, L1).
* ``conv_maxout_mnist``: one SGD step (momentum 0.9, lr 0.01, ``zero_grad`` + forward + softmax
  cross-entropy + backward + ``step``) of Goodfellow et al. (2013)'s MNIST maxout conv net, no
  dropout: conv 8x8 pad 0, 48 units x 2 pieces -> maxout over 2 consecutive channels -> max-pool 4
  stride 2; conv 8x8 pad 3, 48x2 -> maxout -> pool 4/2; conv 5x5 pad 3, 24 units x 4 pieces ->
  maxout:4 -> pool 2/2; dense softmax 10 over 24*2*2 inputs. Maps: 1x28x28 -> 96x21x21 -> 48x21x21
  -> 48x9x9 -> 96x8x8 -> 48x8x8 -> 48x3x3 -> 96x5x5 -> 24x5x5 -> 24x2x2 -> 10.

Each op runs ``--warmup`` untimed steps, then up to ``--steps`` timed ones, stopping after
``--max-seconds`` (at least 3 timed steps); it reports the median and the 10th/90th percentiles.

Usage (after ``benches/setup_venv.sh``)::

    benches/.venv/bin/python benches/pytorch_layers.py --threads 2 --json

With ``--json`` it prints one object per op per line: peer, version, op, threads, batch,
input_shape, output_shape, median_ms, p10_ms, p90_ms, steps, warmup, load1.
"""

from __future__ import annotations

import argparse
import math
import json
import os
import sys
import time

OPS = (
    "conv5x5_1to128",
    "conv5x5_128to128",
    "convT11x11_128to1",
    "maxpool4s4_128",
    "maxpool4s2_128",
    "local9x9_1to16",
    "local9x9_16to16",
    "conv_maxout_mnist",
    "fcwta_784x2000",
    "convwta_16",
    "convwta_64",
    "convwta_128",
    "wtarbm_784x256",
    "activation_1064x2",
    "activation_classify_1064x2",
    "activation_generate_1064x2",
    "drsae_784x400x11",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="intra-op and inter-op threads (default 1)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--ops", default="all", help=f"comma-separated, or all: {', '.join(OPS)}")
    p.add_argument("--steps", type=int, default=30, help="timed steps per op, at most (default 30)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--max-seconds", type=float, default=10.0, help="stop timing an op after this long (at least 3 steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p


def load1() -> float | None:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile of sorted values, linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Ops:
    """Builds each op: returns (input_shape, output_shape, step) where step() does one timed step."""

    def __init__(self, torch, batch: int, seed: int):
        self.torch = torch
        self.F = torch.nn.functional
        self.n = batch
        self.gen = torch.Generator().manual_seed(seed)

    def rand(self, *shape, scale=1.0, grad=False):
        t = (torch_rand(self.torch, shape, self.gen) * 2.0 - 1.0) * scale
        return t.requires_grad_(grad)

    def layer_step(self, fn, x, params, out_shape):
        """A step: forward fn(x, *params), backward of a fixed output gradient to x and params."""
        go = self.rand(*out_shape)
        leaves = [x, *params]

        def step():
            for t in leaves:
                t.grad = None
            y = fn(x, *params)
            y.backward(go)

        with self.torch.no_grad():
            shape = tuple(fn(x, *params).shape)
        assert shape == tuple(out_shape), f"output {shape}, expected {out_shape}"
        return step

    def conv(self, c, o, k):
        n, p = self.n, (k - 1) // 2
        b = 1.0 / (c * k * k) ** 0.5
        x = self.rand(n, c, 28, 28, grad=True)
        w, bias = self.rand(o, c, k, k, scale=b, grad=True), self.rand(o, scale=b, grad=True)
        out = (n, o, 28, 28)
        return x.shape, out, self.layer_step(lambda x, w, bias: self.F.conv2d(x, w, bias, padding=p), x, [w, bias], out)

    def conv_transpose(self, c, o, k):
        n, p = self.n, (k - 1) // 2
        b = 1.0 / (o * k * k) ** 0.5
        x = self.rand(n, c, 28, 28, grad=True)
        w, bias = self.rand(c, o, k, k, scale=b, grad=True), self.rand(o, scale=b, grad=True)
        out = (n, o, 28, 28)
        return x.shape, out, self.layer_step(lambda x, w, bias: self.F.conv_transpose2d(x, w, bias, padding=p), x, [w, bias], out)

    def pool(self, k, s):
        n = self.n
        x = self.rand(n, 128, 28, 28, grad=True)
        side = (28 - k) // s + 1
        out = (n, 128, side, side)
        return x.shape, out, self.layer_step(lambda x: self.F.max_pool2d(x, k, s), x, [], out)

    def local(self, c, o, k):
        n, p = self.n, (k - 1) // 2
        locs = 28 * 28
        b = 1.0 / (c * k * k) ** 0.5
        x = self.rand(n, c, 28, 28, grad=True)
        w = self.rand(locs, o, c * k * k, scale=b, grad=True)
        bias = self.rand(o, 28, 28, scale=b, grad=True)
        torch, F = self.torch, self.F

        def fn(x, w, bias):
            cols = F.unfold(x, k, padding=p)  # [n, C*k*k, L]
            y = torch.einsum("nkl,lok->nol", cols, w)  # [n, O, L]
            return y.reshape(x.shape[0], o, 28, 28) + bias

        out = (n, o, 28, 28)
        return x.shape, out, self.layer_step(fn, x, [w, bias], out)

    def conv_maxout_mnist(self):
        """Goodfellow et al. 2013's MNIST maxout conv net, one SGD-momentum step (no dropout)."""
        torch, F, n = self.torch, self.F, self.n
        nn = torch.nn

        class MaxoutConv(nn.Module):
            def __init__(self, c, units, pieces, k, pad):
                super().__init__()
                self.conv = nn.Conv2d(c, units * pieces, k, padding=pad)
                self.units, self.pieces = units, pieces

            def forward(self, x):
                z = self.conv(x)
                b, _, h, w = z.shape
                # maxout over `pieces` consecutive channels: unit u takes channels u*pieces .. u*pieces+pieces-1
                return z.view(b, self.units, self.pieces, h, w).amax(2)

        torch.manual_seed(0)
        net = nn.Sequential(
            MaxoutConv(1, 48, 2, 8, 0),
            nn.MaxPool2d(4, 2),
            MaxoutConv(48, 48, 2, 8, 3),
            nn.MaxPool2d(4, 2),
            MaxoutConv(48, 24, 4, 5, 3),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(24 * 2 * 2, 10),
        )
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = torch_rand(torch, (n, 1, 28, 28), self.gen)
        y = torch.randint(0, 10, (n,), generator=self.gen)
        with torch.no_grad():
            shape = tuple(net(x).shape)
        assert shape == (n, 10), shape

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()

        return x.shape, (n, 10), step

    def fc_wta(self, units=2000, rate=0.05):
        """One SGD-momentum step of an FC-WTA autoencoder (paper B, section 2): ReLU codes, each unit
        keeps its k = ceil(rate * batch) largest activations across the mini-batch, linear decoder,
        squared error per example, written as a PyTorch user would (topk over the batch dimension)."""
        torch, n = self.torch, self.n
        nn = torch.nn
        torch.manual_seed(0)
        enc, dec = nn.Linear(784, units), nn.Linear(units, 784)
        opt = torch.optim.SGD(list(enc.parameters()) + list(dec.parameters()), lr=0.01, momentum=0.9)
        x = torch_rand(torch, (n, 784), self.gen)
        k = max(1, math.ceil(rate * n - 1e-6))

        def step():
            opt.zero_grad()
            h = torch.relu(enc(x))
            thr = h.topk(k, dim=0).values[-1:]  # the k-th largest of each unit across the batch
            h = h * (h >= thr)
            loss = ((dec(h) - x) ** 2).sum(1).mean()
            loss.backward()
            opt.step()

        return (n, 1, 28, 28), (n, 1, 28, 28), step

    def conv_wta(self, maps, rate=0.05):
        """One SGD-momentum step of a CONV-WTA (paper B, section 3): two 5x5 ReLU convolutions,
        spatial sparsity (one winner per map and example), lifetime sparsity of the winners across
        the batch, an 11x11 transposed convolution back to the image."""
        torch, n = self.torch, self.n
        nn = torch.nn
        torch.manual_seed(0)
        net = nn.ModuleList([nn.Conv2d(1, maps, 5, padding=2), nn.Conv2d(maps, maps, 5, padding=2), nn.ConvTranspose2d(maps, 1, 11, padding=5)])
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = torch_rand(torch, (n, 1, 28, 28), self.gen)
        k = max(1, math.ceil(rate * n - 1e-6))

        def step():
            opt.zero_grad()
            h = torch.relu(net[1](torch.relu(net[0](x))))
            flat = h.flatten(2)  # (n, maps, 784)
            best, idx = flat.max(2)  # spatial: the largest value of each map
            thr = best.topk(k, dim=0).values[-1:]  # lifetime: the k largest winners of each map
            keep = (best >= thr) & (best > 0)
            mask = torch.zeros_like(flat).scatter_(2, idx.unsqueeze(2), keep.unsqueeze(2).to(flat.dtype))
            loss = ((net[2]((flat * mask).view_as(h)) - x) ** 2).flatten(1).sum(1).mean()
            loss.backward()
            opt.step()

        return (n, 1, 28, 28), (n, 1, 28, 28), step

    def wta_rbm(self, hidden=256, rate=0.3):
        """One CD-1 step of a WTA-RBM (paper B, section 2) with SGD momentum, as a user writes it in
        PyTorch (no autograd): P(h|v), keep each unit's k largest across the batch, sample h,
        reconstruct with probabilities, update from the sparsified positive statistics."""
        torch, n = self.torch, self.n
        torch.manual_seed(0)
        w = torch.randn(hidden, 784, generator=self.gen) * 0.01
        b, c = torch.zeros(784), torch.zeros(hidden)
        vw, vb, vc = torch.zeros_like(w), torch.zeros_like(b), torch.zeros_like(c)
        x = torch_rand(torch, (n, 784), self.gen)
        k = max(1, math.ceil(rate * n - 1e-6))
        lr, mom = 0.01, 0.9

        def step():
            ph = torch.sigmoid(x @ w.T + c)
            thr = ph.topk(k, dim=0).values[-1:]
            ph = ph * (ph >= thr)
            h = (torch.rand(ph.shape, generator=self.gen) < ph).to(x.dtype)
            pv = torch.sigmoid(h @ w + b)
            ph2 = torch.sigmoid(pv @ w.T + c)
            gw = (ph2.T @ pv - ph.T @ x) / n
            vw.mul_(mom).sub_(lr * gw)
            vb.mul_(mom).sub_(lr * (pv - x).mean(0))
            vc.mul_(mom).sub_(lr * (ph2 - ph).mean(0))
            w.add_(vw)
            b.add_(vb)
            c.add_(vc)

        return (n, 1, 28, 28), (n, hidden), step

    def drsae(self, hidden, steps, lam=0.005):
        """One SGD-momentum step of a DrSAE (paper D, section 2) written as a PyTorch user would:
        E x computed once, the T iterations unrolled in Python, autograd for BPTT, L^U + L^S with
        the classifier on z^T / ||z^T||, per-matrix learning rates (E, b: / T; S: / (T - 1); C: / 5)
        and the norm projections after the step. ISTA initialisation of a random dictionary, like
        compete's (eq. 4), on l2-normalised random images with random labels."""
        torch, n = self.torch, self.n
        F = torch.nn.functional
        torch.manual_seed(0)
        d = torch.randn(784, hidden)
        d = d / d.norm(dim=0, keepdim=True)
        alpha = 1.25 / steps
        D = torch.nn.Parameter(d.clone())
        E = torch.nn.Parameter(alpha * d.t().clone())
        S = torch.nn.Parameter(torch.eye(hidden) - alpha * d.t() @ d)
        b = torch.nn.Parameter(torch.full((hidden,), alpha * lam))
        C = torch.nn.Parameter(0.01 * torch.randn(10, hidden))
        lr = 0.05
        opt = torch.optim.SGD(
            [
                {"params": [E, b], "lr": lr / steps},
                {"params": [S], "lr": lr / max(steps - 1, 1)},
                {"params": [D], "lr": lr},
                {"params": [C], "lr": lr / 5},
            ],
            lr=lr,
            momentum=0.9,
        )
        x = torch_rand(torch, (n, 784), self.gen)
        x = x / x.norm(dim=1, keepdim=True)
        y = torch.randint(0, 10, (n,), generator=self.gen)

        def step():
            opt.zero_grad()
            drive = x @ E.t() - b
            z = torch.relu(drive)
            for _ in range(steps - 1):
                z = torch.relu(drive + z @ S.t())
            rec = z @ D.t()
            lu = 0.5 * ((rec - x) ** 2).sum(1).mean() + lam * z.sum(1).mean()
            q = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
            loss = lu + F.cross_entropy(q @ C.t(), y)
            loss.backward()
            opt.step()
            with torch.no_grad():
                D.mul_((1.0 / D.norm(dim=0, keepdim=True).clamp_min(1e-12)).clamp(max=1.0))
                E.mul_((alpha / E.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0))
                C.mul_((5.0 / C.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0))

        return (n, 1, 28, 28), (n, 10), step

    def activation_net(self):
        torch = self.torch
        torch.manual_seed(0)
        ws = [torch.randn(1064, 1064, generator=self.gen) * 0.01 for _ in range(2)]
        stats = [torch.zeros(1064), torch.ones(1064) * 0.1]
        return ws, stats

    def std_abs(self, y, stats, train):
        """std-abs with running statistics (paper C eq. 7, the authors' code)."""
        torch = self.torch
        mag = y.norm(dim=1, keepdim=True)
        a = y.abs()
        if train:
            stats[0].mul_(0.995).add_(a.mean(0), alpha=0.005)
            stats[1].mul_(0.995).add_(((a - stats[0]) ** 2).mean(0), alpha=0.005)
        a = (a - stats[0]) / stats[1].clamp_min(1e-5).sqrt()
        return a / a.norm(dim=1, keepdim=True).clamp_min(1e-5) * mag

    def activation_inputs(self, labels):
        torch, n = self.torch, self.n
        img = torch_rand(torch, (n, 784), self.gen)
        img = img / img.norm(dim=1, keepdim=True)
        code = torch.zeros(n, 280)
        for b in range(n):
            code[b, int(labels[b]) * 28:(int(labels[b]) + 1) * 28] = 28 ** -0.5
        return img, code

    def activation_step(self):
        torch, n = self.torch, self.n
        ws, stats = self.activation_net()
        labels = torch.randint(0, 10, (n,), generator=self.gen)
        img, code = self.activation_inputs(labels)
        x0 = torch.cat([img, code], 1)
        lr = 0.1

        def step():
            with torch.no_grad():
                x = x0
                for l, w in enumerate(ws):
                    y = x @ w.T
                    r = x - y @ w
                    nxt = self.std_abs(y, stats, True) if l + 1 < len(ws) else None
                    w.add_(y.T @ r, alpha=lr / n)
                    x = nxt

        return (n, 1064), (n, 1064), step

    def activation_classify(self):
        torch, n = self.torch, self.n
        ws, stats = self.activation_net()
        img, _ = self.activation_inputs(torch.zeros(n))

        def step():
            with torch.no_grad():
                scores = []
                for c in range(10):
                    code = torch.zeros(n, 280)
                    code[:, c * 28:(c + 1) * 28] = 28 ** -0.5
                    x = torch.cat([img, code], 1)
                    for l, w in enumerate(ws):
                        x = x @ w.T
                        if l + 1 < len(ws):
                            x = self.std_abs(x, stats, False)
                    scores.append((x * x).sum(1))
                return torch.stack(scores, 1).argmax(1)

        # One label per image, in the (batch, width) form compete reports.
        return (n, 784), (n, 1), step

    def activation_generate(self):
        torch, n = self.torch, self.n
        ws, stats = self.activation_net()
        labels = torch.arange(n) % 10
        _, code = self.activation_inputs(labels)
        noise = 1.0 + 0.03 * torch.randn(n, 1064, generator=self.gen)
        z = torch_rand(torch, (n, 784), self.gen)
        z = (z / z.norm(dim=1, keepdim=True)).requires_grad_(True)  # compete's start: unit norm
        opt = torch.optim.Adam([z], lr=0.05)

        def step():
            for _ in range(100):
                opt.zero_grad()
                norm = z.norm(dim=1, keepdim=True)
                x = torch.cat([z / norm, code], 1)
                for l, w in enumerate(ws):
                    x = x @ w.T
                    if l + 1 < len(ws):
                        x = self.std_abs(x, stats, False)
                act = (noise * x * x).sum(1)
                obj = act - (norm.squeeze(1) ** 2 - 1) ** 2 - 0.003 * (z / norm).abs().sum(1)
                (-obj.sum()).backward()
                opt.step()
                with torch.no_grad():
                    z.clamp_(min=0)

        return (n, 784), (n, 784), step

    def build(self, name):
        table = {
            "conv5x5_1to128": lambda: self.conv(1, 128, 5),
            "conv5x5_128to128": lambda: self.conv(128, 128, 5),
            "convT11x11_128to1": lambda: self.conv_transpose(128, 1, 11),
            "maxpool4s4_128": lambda: self.pool(4, 4),
            "maxpool4s2_128": lambda: self.pool(4, 2),
            "local9x9_1to16": lambda: self.local(1, 16, 9),
            "local9x9_16to16": lambda: self.local(16, 16, 9),
            "conv_maxout_mnist": self.conv_maxout_mnist,
            "fcwta_784x2000": self.fc_wta,
            "convwta_16": lambda: self.conv_wta(16),
            "convwta_64": lambda: self.conv_wta(64),
            "convwta_128": lambda: self.conv_wta(128),
            "wtarbm_784x256": self.wta_rbm,
            "activation_1064x2": self.activation_step,
            "activation_classify_1064x2": self.activation_classify,
            "activation_generate_1064x2": self.activation_generate,
            "drsae_784x400x11": lambda: self.drsae(400, 11),
        }
        return table[name]()


def torch_rand(torch, shape, gen):
    return torch.rand(*shape, generator=gen, dtype=torch.float32)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = list(OPS) if args.ops.strip().lower() == "all" else [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = [o for o in names if o not in OPS]
    if unknown or args.threads < 1 or args.batch < 1 or args.steps < 1:
        print(f"pytorch_layers.py: bad arguments (unknown ops {unknown}; threads, batch, steps >= 1)", file=sys.stderr)
        return 2
    # The thread counts must be fixed before torch (and its OpenMP / MKL runtimes) start.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch  # noqa: PLC0415  (imported late on purpose, see above)

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError as e:
        print(f"pytorch_layers.py: warning: set_num_interop_threads({args.threads}): {e}", file=sys.stderr)

    ops = Ops(torch, args.batch, args.seed)
    if not args.json:
        print(f"pytorch_layers.py: torch {torch.__version__}, batch {args.batch}, {args.threads} thread(s)")
    for name in names:
        in_shape, out_shape, step = ops.build(name)
        load = load1()
        for _ in range(args.warmup):
            step()
        times = []
        start = time.perf_counter()
        while len(times) < args.steps and (len(times) < 3 or time.perf_counter() - start < args.max_seconds):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
        times.sort()
        rec = {
            "peer": "pytorch",
            "version": torch.__version__,
            "op": name,
            "threads": args.threads,
            "batch": args.batch,
            "input_shape": list(in_shape),
            "output_shape": list(out_shape),
            "median_ms": percentile(times, 50),
            "p10_ms": percentile(times, 10),
            "p90_ms": percentile(times, 90),
            "steps": len(times),
            "warmup": args.warmup,
            "load1": load,
        }
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            print(f"{name:<20} {str(rec['input_shape']):>18} {str(rec['output_shape']):>18} "
                  f"{rec['median_ms']:10.2f} {rec['p10_ms']:10.2f} {rec['p90_ms']:10.2f} {len(times):6d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
