"""compete.train, features, submasks and load_data: the CLI's files and numbers, and refusals."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import compete
from conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    return compete.load_data("sample", "test", validation=1000)


def test_train_writes_the_cli_run_folder(checkpoint: Path) -> None:
    run = checkpoint.parent.parent
    for name in ("config.toml", "progress.json", "checkpoints/best.safetensors", "checkpoints/last.safetensors"):
        assert (run / name).is_file(), name
    progress = json.loads((run / "progress.json").read_text())
    assert len(progress["history"]) == 2
    info = compete.checkpoint_info(checkpoint)
    assert info == {"kind": "mlp", "network": "784-48(relu)-32(maxout:2)-10", "inputs": 784, "hidden_layers": 2, "classifier": True}


def test_train_from_a_toml_file_and_resume(tmp_path: Path) -> None:
    file = tmp_path / "exp.toml"
    file.write_text('name = "toml"\n[data]\nsource = "sample"\n[model]\nhidden = [16]\n[train]\nepochs = 1\n')
    out = compete.train(file, tmp_path / "run", quiet=True)
    assert (out / "checkpoints" / "best.safetensors").is_file()
    with pytest.raises(ValueError, match="resume"):
        compete.train(file, out, quiet=True)  # a finished run is not overwritten
    file.write_text(file.read_text().replace("epochs = 1", "epochs = 2"))
    compete.train(file, out, quiet=True, resume=True)
    assert len(json.loads((out / "progress.json").read_text())["history"]) == 2


def test_ctrl_c_stops_training_between_steps_and_the_run_resumes(tmp_path: Path) -> None:
    config = {"name": "long", "data": {"source": "sample"}, "model": {"hidden": [64]}, "train": {"epochs": 400}}
    out = tmp_path / "run"
    sent: list[float] = []

    def ctrl_c_after_the_first_epoch() -> None:
        end = time.perf_counter() + 120
        while not (out / "progress.json").exists() and time.perf_counter() < end:
            time.sleep(0.05)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    # A process started in the background by a non-interactive shell (as CI may be) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: install it here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=ctrl_c_after_the_first_epoch, daemon=True).start()
        with pytest.raises(KeyboardInterrupt, match=r"training interrupted at epoch (\d+), step \d+.*resume to continue"):
            compete.train(config, out, quiet=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent and time.perf_counter() - sent[0] < 30, "the run did not stop at its next step"
    done = len(json.loads((out / "progress.json").read_text())["history"])
    assert 1 <= done < 400
    # The finished epochs are kept; the run continues from them.
    config["train"]["epochs"] = done + 1
    compete.train(config, out, quiet=True, resume=True)
    assert len(json.loads((out / "progress.json").read_text())["history"]) == done + 1


def test_train_refuses_bad_configs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hiden"):
        compete.train({"model": {"hiden": [3]}}, tmp_path / "a", quiet=True)
    with pytest.raises(ValueError, match=r"lr"):
        compete.train({"data": {"source": "sample"}, "train": {"lr": -1.0}}, tmp_path / "b", quiet=True)
    with pytest.raises(FileNotFoundError, match="nothing.toml"):
        compete.train(tmp_path / "nothing.toml")
    with pytest.raises(ValueError, match="invalid config"):
        compete.train(42)  # type: ignore[arg-type]


def test_features_equal_the_cli_npy(cli: Path, checkpoint: Path, tmp_path: Path, test_split) -> None:
    x, labels = test_split
    run_cli(cli, "features", checkpoint, "--data", "sample", "--split", "test", "--validation", 1000, "-o", tmp_path / "f.npy")
    want = np.load(tmp_path / "f.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "f.labels.npy"), labels)
    got = compete.features(checkpoint, x)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(x), 32)
    np.testing.assert_array_equal(got, want)
    # Images, float64 and Fortran order are converted, not refused.
    np.testing.assert_array_equal(compete.features(checkpoint, x.reshape(-1, 28, 28)), want)
    np.testing.assert_array_equal(compete.features(checkpoint, x.astype(np.float64)), want)
    np.testing.assert_array_equal(compete.features(checkpoint, np.asfortranarray(x)), want)
    np.testing.assert_array_equal(compete.features(checkpoint, x[::-1])[::-1], want)


def test_submasks_equal_the_cli_npy(cli: Path, checkpoint: Path, tmp_path: Path, test_split) -> None:
    x, _ = test_split
    for layer, bits in ((0, 48), (1, 64)):
        out = tmp_path / f"s{layer}.npy"
        run_cli(cli, "submasks", checkpoint, "--data", "sample", "--split", "test", "--validation", 1000, "--layer", layer, "-o", out)
        packed = compete.submasks(checkpoint, x, layer=layer, packed=True)
        np.testing.assert_array_equal(packed, np.load(out))
        flags = compete.submasks(checkpoint, x, layer=layer)
        assert flags.dtype == np.bool_ and flags.shape == (len(x), bits)
        np.testing.assert_array_equal(np.packbits(flags, axis=1), packed)
    np.testing.assert_array_equal(compete.submasks(checkpoint, x), compete.submasks(checkpoint, x, layer=1))
    np.testing.assert_array_equal(compete.submasks(checkpoint, x, layer=-2), compete.submasks(checkpoint, x, layer=0))
    # Maxout: one winning piece of every pair.
    assert (compete.submasks(checkpoint, x[:50], layer=1).reshape(50, 32, 2).sum(axis=2) == 1).all()
    # Submasks as hash codes: each test image's nearest code is its own.
    codes = compete.submasks(checkpoint, x[:200], packed=True)
    d, _ = compete.hamming_topk(codes, codes, 1)
    assert (d[:, 0] == 0).all()


def test_bad_inputs_raise_value_error(checkpoint: Path, test_split, tmp_path: Path) -> None:
    x, _ = test_split
    with pytest.raises(ValueError, match=r"783 input features.*784 input features"):
        compete.features(checkpoint, x[:, :783])
    with pytest.raises(ValueError, match=r"x = an array of dtype uint8"):
        compete.features(checkpoint, (x * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"x = an array of shape \[784\]"):
        compete.features(checkpoint, x[0])
    with pytest.raises(ValueError, match="invalid layer = 2"):
        compete.submasks(checkpoint, x, layer=2)
    with pytest.raises(ValueError, match="invalid layer = -3"):
        compete.submasks(checkpoint, x, layer=-3)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        compete.features(tmp_path / "absent.safetensors", x)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.safetensors"):
        compete.submasks(tmp_path / "junk.safetensors", x)
    with pytest.raises(ValueError, match="invalid split = tset"):
        compete.load_data("sample", "tset")


def test_load_data_matches_the_shipped_sample(test_split) -> None:
    x, labels = test_split
    assert x.dtype == np.float32 and x.shape[1] == 784 and labels.dtype == np.uint8
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(labels)) == set(range(10))
    assert (ROOT / "data" / "mnist-sample").is_dir()


@pytest.mark.parametrize(
    "model",
    [
        {"type": "conv", "layers": ["conv5x5:4:maxout:2", "pool2", "dense:16", "10"]},
        {"type": "fc-wta", "hidden": [64], "sparsity": 0.2},
    ],
    ids=["conv-maxout", "fc-wta"],
)
def test_other_checkpoint_kinds_give_the_clis_features_and_submasks(cli: Path, tmp_path: Path, model: dict, test_split) -> None:
    x, _ = test_split
    run = compete.train({"name": model["type"], "data": {"source": "sample", "validation": 1000}, "model": model,
                         "train": {"epochs": 1, "batch_size": 100}}, tmp_path / "run", quiet=True)
    ckpt = run / "checkpoints" / "best.safetensors"
    assert compete.checkpoint_info(ckpt)["kind"] == model["type"]
    run_cli(cli, "features", ckpt, "--data", "sample", "--split", "test", "--validation", 1000, "-o", tmp_path / "f.npy")
    np.testing.assert_array_equal(compete.features(ckpt, x.reshape(-1, 28, 28)), np.load(tmp_path / "f.npy"))
    run_cli(cli, "submasks", ckpt, "--data", "sample", "--split", "test", "--validation", 1000, "--layer", 0, "-o", tmp_path / "s.npy")
    np.testing.assert_array_equal(compete.submasks(ckpt, x, layer=0, packed=True), np.load(tmp_path / "s.npy"))
