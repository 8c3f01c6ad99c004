#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment .venv-py/ at the repo root and
# install the pinned packages from scripts/requirements.txt. Idempotent: when every
# pinned package is already installed at the pinned version, nothing is done.
#
# Usage:  bash scripts/setup_python.sh        (PYTHON=python3.11 to pick another interpreter)
#         .venv-py/bin/python scripts/make_parity_fixture.py
#
# How torch is installed, and why (measured on the 2-core dev machine, CPython 3.11,
# PyPI only):
#   * The PyPI Linux x86_64 wheel torch-2.15.0 is 539 MB (download ~14 s here) and is
#     the CUDA build: libtorch_cuda.so, libtorch_python.so and libtorch_global_deps.so
#     have hard DT_NEEDED entries on libcudart.so.13, libcublas(Lt).so.13, libcudnn.so.9,
#     libnccl.so.2, libcusparseLt.so.0, libcufile.so.0, libnvrtc.so.13, ...
#   * Tried the light route, `pip install --no-deps torch==2.15.0` plus its small
#     pure-python deps (filelock sympy networkx jinja2 fsspec typing-extensions
#     setuptools): `import torch` FAILS ("libcudart.so.13: cannot open shared object
#     file", then "libcublasLt.so.*[0-9] not found"). The CPU-only wheels live on
#     PyTorch's own index, which is not reachable here, so there is no PyTorch-from-PyPI
#     route that avoids the nvidia-* / cuda-toolkit wheels.
#   * So torch is installed normally (with its nvidia-*, cuda-toolkit, triton deps).
#     Measured for a fresh venv, nothing cached: ~2.9 GB of wheels downloaded (torch
#     539 MB, nvidia-cudnn 519 MB, nvidia-cublas 405 MB, triton 286 MB, cusolver, cufft,
#     nccl, cusparselt, cusparse, nvshmem, ...), 2 min 39 s wall for the whole script,
#     5.6 GB on disk in .venv-py/. A second run (pins satisfied) takes < 1 s.
#     The CUDA libraries are never loaded for computation: everything here runs on CPU.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-py"
REQ="$ROOT/scripts/requirements.txt"
PYTHON="${PYTHON:-python3}"

# Keep .venv-py/ out of git (create .gitignore if absent, keep its other lines).
GI="$ROOT/.gitignore"
if ! { [ -f "$GI" ] && grep -qxF '.venv-py/' "$GI"; }; then
    if [ -s "$GI" ] && [ -n "$(tail -c1 "$GI")" ]; then echo >> "$GI"; fi
    echo '.venv-py/' >> "$GI"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup_python: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# Exit 0 iff every `name==version` line of requirements.txt is installed at that version.
pins_satisfied() {
    "$PY" - "$REQ" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    name, want = line.split('==')
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        print(f"setup_python: {name}: have {have}, want {want}")
        ok = False
sys.exit(0 if ok else 1)
PYEOF
}

if pins_satisfied; then
    echo "setup_python: $VENV already has the pinned packages; nothing to do"
    exit 0
fi

"$PY" -m pip install --disable-pip-version-check -q -r "$REQ"
pins_satisfied
"$PY" -c 'import torch, transformers, safetensors, numpy; torch.ones(2) @ torch.ones(2); print("setup_python: ok: torch", torch.__version__, "transformers", transformers.__version__, "safetensors", safetensors.__version__, "numpy", numpy.__version__)'
