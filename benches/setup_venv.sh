#!/usr/bin/env bash
# Creates benches/.venv with a pinned PyTorch (used on the CPU only), numpy and scikit-learn, from PyPI only.
#
# Idempotent: when benches/.venv already imports the pinned torch and multiplies two matrices, it does
# nothing. Usage: bash benches/setup_venv.sh   (PYTHON=/path/to/python3.11+ to choose the interpreter)
#
# Why the full torch install and not a CPU-only wheel: PyTorch's own CPU wheel index is not
# reachable here (only PyPI is), and every PyPI torch wheel for Linux x86_64 is a CUDA build. Installing it with
# --no-deps does not work: libtorch_cpu.so itself has DT_NEEDED entries on libcudart.so.13 and
# libcupti.so.13, libtorch.so and libtorch_python.so need libtorch_cuda.so (cuBLAS, cuDNN, cuFFT,
# cuSPARSE, cuSPARSELt, cuFile, NCCL, NVRTC, NVSHMEM), and `import torch` fails with
# "ValueError: libcublasLt.so.*[0-9] not found in the system path". So the NVIDIA runtime wheels are
# installed as torch declares them (about 2.3 GB of downloads, 5.4 GB on disk, ~2 minutes here); they
# are loaded but never used without a GPU. The CPU code (libtorch_cpu.so with MKL and oneDNN) is the
# same as in the CPU build.
set -euo pipefail

TORCH_VERSION="2.15.0"
NUMPY_VERSION="2.4.6" # the last numpy for Python 3.11 (numpy 2.5 needs Python >= 3.12)
SKLEARN_VERSION="1.9.1" # LinearSVC, for benches/compare_svm.sh

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

check() {
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$TORCH_VERSION" "$NUMPY_VERSION" "$SKLEARN_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import numpy
import sklearn
import torch
want_torch, want_numpy, want_sklearn = sys.argv[1], sys.argv[2], sys.argv[3]
assert torch.__version__.split("+")[0] == want_torch, torch.__version__
assert numpy.__version__ == want_numpy, numpy.__version__
assert sklearn.__version__ == want_sklearn, sklearn.__version__
c = torch.randn(2, 2) @ torch.randn(2, 2)
assert c.shape == (2, 2)
EOF
}

if check; then
    echo "setup_venv.sh: $venv already has torch $TORCH_VERSION, numpy $NUMPY_VERSION and scikit-learn $SKLEARN_VERSION; nothing to do"
    exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "setup_venv.sh: $python is missing or older than Python 3.11 (torch $TORCH_VERSION needs >= 3.11); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "setup_venv.sh: creating $venv with $("$python" --version 2>&1)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

echo "setup_venv.sh: installing torch==$TORCH_VERSION numpy==$NUMPY_VERSION scikit-learn==$SKLEARN_VERSION from PyPI (about 2.3 GB of wheels)"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
    "torch==$TORCH_VERSION" "numpy==$NUMPY_VERSION" "scikit-learn==$SKLEARN_VERSION"

if ! check; then
    echo "setup_venv.sh: $venv was installed but 'import torch; torch.randn(2,2) @ torch.randn(2,2)' still fails:" >&2
    "$venv/bin/python" -c 'import torch; print(torch.randn(2, 2) @ torch.randn(2, 2))' >&2 || true
    exit 1
fi
"$venv/bin/python" -c 'import numpy, torch; print(f"setup_venv.sh: ready: torch {torch.__version__}, numpy {numpy.__version__}, {torch.get_num_threads()} threads by default")'
