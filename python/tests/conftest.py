"""Shared fixtures: the command-line binary (for the CLI-equality checks) and one small trained
checkpoint on the MNIST sample shipped in the repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import compete

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `compete` binary: $COMPETE_BIN, else the repository's target/release/compete."""
    path = Path(os.environ.get("COMPETE_BIN", ROOT / "target" / "release" / "compete"))
    if not path.is_file():
        pytest.fail(f"{path} not found: build it with `cargo build --release` or set COMPETE_BIN")
    return path


def run_cli(cli: Path, *args: object) -> str:
    """Runs the CLI from the repository root (where `sample` data lives) and returns its output."""
    done = subprocess.run([str(cli), *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"compete {' '.join(map(str, args))} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 784-48(relu)-32(maxout:2)-10 MLP (maxout: 32 units of 2 pieces) trained for two epochs on the sample, by compete.train."""
    out = tmp_path_factory.mktemp("run") / "mlp"
    config = {
        "name": "py-mlp",
        "data": {"source": "sample", "validation": 1000},
        "model": {"hidden": [48, 32], "competition": ["relu", "maxout:2"]},
        "train": {"epochs": 2, "batch_size": 100, "lr": 0.05, "seed": 3},
    }
    cwd = os.getcwd()
    os.chdir(ROOT)  # `sample` is read relative to the repository, as by the CLI
    try:
        folder = compete.train(config, out, quiet=True)
    finally:
        os.chdir(cwd)
    assert folder == out
    return out / "checkpoints" / "best.safetensors"
