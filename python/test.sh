#!/usr/bin/env bash
# The Python package's tests: builds `compete` from python/ (maturin, PyO3) into python/.venv and
# runs its pytest suite against the release CLI (the CLI-equality checks call it).
#
# Installs from PyPI only, pinned: numpy, pytest, safetensors, and torch for the PyTorch tests
# (about 2.3 GB of wheels, see benches/setup_venv.sh for why the CUDA build; set COMPETE_PY_TORCH=0
# to leave it out: those tests are then skipped, and say so). Idempotent: what is installed stays.
# Usage: bash python/test.sh [pytest arguments]   (PYTHON=/path/to/python3.11+ to choose the interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv"
python="${PYTHON:-python3}"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q)

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "python/test.sh: $python is missing or older than Python 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "python/test.sh: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
"${pip[@]}" numpy==2.4.6 pytest==9.2.0 safetensors==0.8.0
if [ "${COMPETE_PY_TORCH:-1}" != 0 ] && ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "python/test.sh: installing torch==2.15.0 from PyPI for the PyTorch tests (about 2.3 GB)"
    "${pip[@]}" torch==2.15.0 || echo "python/test.sh: WARNING: torch could not be installed; the PyTorch tests will be SKIPPED" >&2
fi

echo "python/test.sh: building the CLI and the package (pip install ./python)"
(cd "$root" && cargo build --release --quiet)
"${pip[@]}" --force-reinstall --no-deps "$here"

# From the repository root, so that `import compete` is the installed package, not python/compete.
cd "$root"
COMPETE_BIN="$root/target/release/compete" "$venv/bin/pytest" -q -rs "$here/tests" "$@"
