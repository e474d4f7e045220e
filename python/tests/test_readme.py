"""The README's Python examples run as written (from the repository root, as a newcomer would)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import ROOT


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    if "torch" in blocks[0]:
        pytest.importorskip("torch")
    # The examples write runs/nb relative to the current folder: run them in a copy's place.
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "data", tmp_path / "data")
    scope: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 (the README's own code)
    regions = scope["regions"]
    assert regions.count > 1 and regions.areas.sum() > 3.99  # the square [-2, 2]^2 has area 4 in plane units (2 x 2)
    assert scope["distances"].shape == (100, 10)
    assert scope["same"] > 0.5  # submask neighbours mostly share the class
    assert scope["feats"].shape == (len(scope["x"]), 256)
