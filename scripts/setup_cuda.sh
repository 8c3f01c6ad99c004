#!/usr/bin/env bash
# Install the CUDA 13.0 build toolchain from PyPI wheels into .cuda/ (gitignored), so that
# `cargo build --release --features cuda` works on a machine with no CUDA toolkit and no GPU.
# Idempotent: a second run only checks and prints the environment.
#
# Usage:  bash scripts/setup_cuda.sh            # installs, then prints the env to use
#         eval "$(bash scripts/setup_cuda.sh --env)"   # only the `export` lines
#         (bash scripts/build_cuda.sh runs this for you)
#
# What the build needs, read from the build scripts of the crates that `--features cuda` adds
# (candle 0.11.1 -> candle-kernels 0.11.1 (build dep cudaforge 0.1.6), cudarc 0.19.10):
#   * candle-kernels/build.rs (via cudaforge) runs `nvcc`, found as $NVCC, then on $PATH, then
#     $CUDA_HOME/bin. It compiles every kernel to PTX (`--ptx`, embedded in the binary and JIT-
#     compiled by the driver at run time) and the MoE/GGUF kernels to a static libmoe.a (machine
#     code). The architecture comes from CUDA_COMPUTE_CAP (else `nvidia-smi`, which does not exist
#     here): CUDA_COMPUTE_CAP=90 becomes sm_90a / compute_90a (cudaforge adds the `a` suffix for
#     >= 90), i.e. PTX and SASS for Hopper (H100/H200) only. It links `cudart` dynamically
#     (`cargo:rustc-link-lib=dylib=cudart`) and libstdc++.
#   * cudarc/build.rs, with the features candle-core turns on (`cuda-version-from-build-system`,
#     `dynamic-linking`), runs `nvcc --version` to pick its bindings (13.0 here), then LINKS, at
#     build time, against libcuda, libnvrtc, libcurand, libcublas and libcublasLt (not dlopen: the
#     `dynamic-linking` feature emits `cargo:rustc-link-lib=dylib=...`). Search dirs come from
#     CUDA_HOME / CUDA_PATH / CUDA_ROOT / CUDA_TOOLKIT_ROOT_DIR: <root>/lib, lib/stubs, lib64, ...
#     So the binary has DT_NEEDED entries libcuda.so.1, libcudart.so.13, libnvrtc.so.13,
#     libcurand.so.10, libcublas.so.13, libcublasLt.so.13; they must be found at run time
#     (scripts/gpu_check.sh sets LD_LIBRARY_PATH on the GPU machine).
#
# The wheels (nvidia/cu13/{bin,include,lib,nvvm}) already form a CUDA root; this script adds
# what a toolkit has and the wheels lack:
#   * lib64 -> lib, and the unversioned linker names (libcublas.so -> libcublas.so.13, ...);
#   * lib/stubs/libcuda.so: libcuda is the DRIVER's library and ships in no PyPI wheel. A toolkit
#     has a stub for linking; we build the same thing: one empty function per `cu*` function that
#     cuda.h declares (after the preprocessor, so `cuMemAlloc` is the real symbol `cuMemAlloc_v2`),
#     with soname libcuda.so.1. It is only linked against, never loaded: at run time the driver's
#     real libcuda.so.1 is found instead.
#
# Why 13.0.x and not the newest wheels: the GPU machine's driver is 580.x (CUDA 13.0). candle's
# kernels ship as PTX that this driver JIT-compiles when the program starts. nvcc 13.0 writes
# PTX ISA `.version 9.0` (checked: `nvcc --ptx` output here); a newer nvcc (13.1+) writes a newer
# PTX ISA, which a 13.0 driver refuses (CUDA_ERROR_UNSUPPORTED_PTX_VERSION). So nvcc, nvvm, crt
# and cccl are pinned to the CUDA 13.0 release. The libraries we link against only need the same
# sonames as the GPU machine's (libcublas.so.13, libcurand.so.10, libnvrtc.so.13, libcudart.so.13);
# they are pinned to 13.0-era wheels as well.
#
# Size: about 1.2 GB in .cuda/pkgs (cuBLAS is most of it); ~12 s with a warm pip cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.cuda"
PKGS="$DEST/pkgs"
CUDA_DIR="$PKGS/nvidia/cu13"   # the CUDA root laid out by the wheels
LINK="$DEST/root"              # stable name for it
ENV_ONLY=0
[ "${1:-}" = "--env" ] && ENV_ONLY=1

WHEELS=(
    nvidia-cuda-nvcc==13.0.88     # bin/nvcc, ptxas, fatbinary, nvlink
    nvidia-nvvm==13.0.88          # nvvm/bin/cicc, libdevice (nvcc's device front end)
    nvidia-cuda-crt==13.0.88      # include/crt/*.h (host_config.h, ...)
    nvidia-cuda-cccl==13.0.85     # include/cccl (libcu++ `nv/target`, `cuda/std`, used by cuda_bf16.h)
    nvidia-cuda-runtime==13.0.96  # cuda.h, cuda_runtime.h, libcudart.so.13
    nvidia-cuda-nvrtc==13.0.88    # libnvrtc.so.13 (linked by cudarc)
    nvidia-cublas==13.0.2.14      # libcublas.so.13, libcublasLt.so.13 (linked by cudarc)
    nvidia-curand==10.4.0.35      # libcurand.so.10 (linked by cudarc)
)

log() { [ "$ENV_ONLY" = 1 ] || echo "setup_cuda: $*"; }

# pip: $PIP, else python3 -m pip, else the project's .venv-py.
pip_cmd() {
    if [ -n "${PIP:-}" ]; then echo "$PIP"
    elif python3 -m pip --version >/dev/null 2>&1; then echo "python3 -m pip"
    elif [ -x "$ROOT/.venv-py/bin/pip" ]; then echo "$ROOT/.venv-py/bin/pip"
    else echo "setup_cuda: no pip found (set PIP=...)" >&2; exit 1
    fi
}

installed_ok() {
    local w name ver
    for w in "${WHEELS[@]}"; do
        name="${w%%==*}"; ver="${w##*==}"
        ls -d "$PKGS/${name//-/_}-$ver.dist-info" >/dev/null 2>&1 || return 1
    done
    [ -x "$CUDA_DIR/bin/nvcc" ]
}

if ! installed_ok; then
    log "installing ${#WHEELS[@]} wheels into $PKGS (about 1.2 GB)"
    rm -rf "$PKGS"
    mkdir -p "$PKGS"
    # shellcheck disable=SC2046
    $(pip_cmd) install --disable-pip-version-check -q --no-deps --target "$PKGS" "${WHEELS[@]}"
fi

# lib64 and the linker names.
[ -e "$CUDA_DIR/lib64" ] || ln -s lib "$CUDA_DIR/lib64"
for so in "$CUDA_DIR"/lib/lib*.so.[0-9]*; do
    base="$(basename "$so")"
    case "$base" in *.alt.so*|libnvrtc-builtins*) continue ;; esac
    plain="${base%%.so.*}.so"
    [ -e "$CUDA_DIR/lib/$plain" ] || ln -s "$base" "$CUDA_DIR/lib/$plain"
done

# The libcuda link stub (see the header).
STUB="$CUDA_DIR/lib/stubs/libcuda.so"
if [ ! -f "$STUB" ]; then
    log "building the libcuda.so link stub from cuda.h"
    mkdir -p "$CUDA_DIR/lib/stubs"
    tmp="$(mktemp -d)"
    echo '#include <cuda.h>' | ${CC:-cc} -E -I"$CUDA_DIR/include" - \
        | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u \
        | sed 's/.*/void &(void) {}/' > "$tmp/stub.c"
    ${CC:-cc} -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB" "$tmp/stub.c"
    log "  $(wc -l < "$tmp/stub.c") symbols"
    rm -rf "$tmp"
fi
ln -sfn "pkgs/nvidia/cu13" "$LINK"

# Sanity: nvcc runs and says 13.0.
ver="$("$LINK/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
[ "$ver" = "13.0" ] || { echo "setup_cuda: expected nvcc 13.0, got '$ver'" >&2; exit 1; }

cat <<EOF
export CUDA_ROOT="$LINK"
export CUDA_HOME="$LINK"
export CUDA_PATH="$LINK"
export CUDA_TOOLKIT_ROOT_DIR="$LINK"
export NVCC="$LINK/bin/nvcc"
export PATH="$LINK/bin:\$PATH"
export CUDA_COMPUTE_CAP=90
export LD_LIBRARY_PATH="$LINK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
EOF
log "ok: nvcc $ver at $LINK/bin/nvcc (eval the lines above, or use scripts/build_cuda.sh)"
