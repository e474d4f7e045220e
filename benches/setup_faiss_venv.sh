#!/usr/bin/env bash
# Creates benches/.venv-faiss with a pinned faiss-cpu and numpy from PyPI, for benches/faiss_hamming.py.
#
# Idempotent: when benches/.venv-faiss already imports the pinned versions and searches a tiny
# IndexBinaryFlat, it does nothing. Usage: bash benches/setup_faiss_venv.sh
# (PYTHON=/path/to/python3.10+ to choose the interpreter).
#
# faiss-cpu 1.15.1 is the newest on PyPI (a cp310-abi3 manylinux wheel, so it installs for Python 3.11);
# it needs numpy >= 1.25 and packaging. The wheel carries generic, AVX2 and AVX-512 builds of the
# library and loads the best one the CPU supports (faiss.get_compile_options() says which).
set -euo pipefail

FAISS_VERSION="1.15.1"
NUMPY_VERSION="2.4.6" # the last numpy for Python 3.11 (numpy 2.5 needs Python >= 3.12)
PACKAGING_VERSION="25.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-faiss"
python="${PYTHON:-python3}"

check() {
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$FAISS_VERSION" "$NUMPY_VERSION" <<'PY' >/dev/null 2>&1
import sys
import numpy as np
import faiss
assert faiss.__version__ == sys.argv[1], faiss.__version__
assert np.__version__ == sys.argv[2], np.__version__
index = faiss.IndexBinaryFlat(64)
index.add(np.array([[0] * 8, [255] * 8], dtype=np.uint8))
d, i = index.search(np.array([[1] + [0] * 7], dtype=np.uint8), 2)
assert d.tolist() == [[1, 63]] and i.tolist() == [[0, 1]], (d, i)
PY
}

if check; then
    echo "setup_faiss_venv.sh: $venv already has faiss-cpu $FAISS_VERSION and numpy $NUMPY_VERSION; nothing to do"
    exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    echo "setup_faiss_venv.sh: $python is missing or older than Python 3.10 (faiss-cpu $FAISS_VERSION needs >= 3.10); set PYTHON=/path/to/python3" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    echo "setup_faiss_venv.sh: creating $venv with $("$python" --version 2>&1)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi

echo "setup_faiss_venv.sh: installing faiss-cpu==$FAISS_VERSION numpy==$NUMPY_VERSION from PyPI"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
    "faiss-cpu==$FAISS_VERSION" "numpy==$NUMPY_VERSION" "packaging==$PACKAGING_VERSION"

if ! check; then
    echo "setup_faiss_venv.sh: $venv was installed but a tiny IndexBinaryFlat search still fails:" >&2
    "$venv/bin/python" -c 'import faiss, numpy; print(faiss.__version__, numpy.__version__)' >&2 || true
    exit 1
fi
"$venv/bin/python" -c 'import faiss, numpy; print(f"setup_faiss_venv.sh: ready: faiss-cpu {faiss.__version__} ({faiss.get_compile_options()}), numpy {numpy.__version__}")'
