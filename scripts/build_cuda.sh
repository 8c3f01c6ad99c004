#!/usr/bin/env bash
# Build the CUDA binary here (no GPU, no CUDA toolkit installed) and lay out what the GPU machine
# needs in .gpu/ (gitignored), the folder that the device call carries.
#
# Usage:  bash scripts/build_cuda.sh
#   -> .gpu/r1lab.gz     the release binary with `--features cuda`, debug info stripped, gzipped
#      .gpu/BUILD.txt    how and when it was built (nvcc, commit, sizes, DT_NEEDED libraries)
# Then, from the checkout the session was started in (the device tool sends that one):
#   device run: command `bash scripts/gpu_check.sh`, carry [".gpu"], timeout_s 540
#   (README.md, section "GPU").
#
# Env: CARGO_TARGET_DIR (default target-cuda/, kept apart from the CPU build's target/ because
# the `cuda` feature changes candle and everything above it), NICE (default 19: the dev machine
# has 2 cores), CUDAFORGE_THREADS (nvcc jobs inside candle-kernels' build script, default 2).
#
# Measured building it here (2026-11-28, 2-core machine shared with a training run, nothing of
# the cuda build cached): 108 min wall for the whole `cargo build` (6493 s), of which candle-
# kernels' nvcc runs took roughly 25 min (its PTX kernels, then a static libmoe.a of MoE/GGUF
# matmul kernels in SASS for sm_90a; the mmq_* files are the slow part). A rebuild after editing
# only this crate takes minutes.
#   * sizes: 475 MiB as built (the release profile has `debug = 1`), 86 MiB after
#     `objcopy --strip-debug` (the symbol table stays, so a backtrace still names functions; 33 MB
#     of it is the .nv_fatbin of libmoe, 11 MB the PTX), 22 MB gzipped. The device call carries
#     at most 64 MiB with the working tree (~15 MB tracked), hence the gzip; the GPU side
#     unpacks it to /tmp (scripts/gpu_check.sh).
#   * the binary's DT_NEEDED: libcuda.so.1, libcudart.so.13, libcublas.so.13, libcurand.so.10
#     (the linker's --as-needed drops nvrtc and cublasLt, which libcublas loads itself).
#   * checked here without a GPU: with .cuda/root/lib on LD_LIBRARY_PATH and the libcuda stub
#     linked as libcuda.so.1 in a temporary folder, `r1lab --device cpu gpu-check --quick` passes
#     with this binary, and `--device cuda` gets as far as cuBLAS's initialisation.
#   * everything else the check reads (tests/fixtures, data/checkpoints/base-1M, data/tasks) is
#     tracked and travels with the working tree; .gpu/ holds only what is built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NICE="${NICE:-19}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-cuda}"
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-2}"

eval "$(nice -n "$NICE" bash scripts/setup_cuda.sh --env)"
echo "build_cuda: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p'), CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, target dir $CARGO_TARGET_DIR"

start=$(date +%s)
nice -n "$NICE" cargo build --release --features cuda --bin r1lab
secs=$(( $(date +%s) - start ))
BIN="$CARGO_TARGET_DIR/release/r1lab"

mkdir -p .gpu
rm -f .gpu/r1lab .gpu/r1lab.gz
STRIPPED="$CARGO_TARGET_DIR/release/r1lab.stripped"
objcopy --strip-debug "$BIN" "$STRIPPED"
nice -n "$NICE" gzip -6 -c "$STRIPPED" > .gpu/r1lab.gz.tmp
mv .gpu/r1lab.gz.tmp .gpu/r1lab.gz
full=$(stat -c %s "$BIN")
small=$(stat -c %s "$STRIPPED")
packed=$(stat -c %s .gpu/r1lab.gz)
{
    echo "built:      $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${secs} s (cargo build --release --features cuda)"
    echo "commit:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes')"
    echo "nvcc:       $(nvcc --version | tail -2 | head -1)"
    echo "arch:       CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP (PTX compute_90a, SASS sm_90a for libmoe)"
    echo "binary:     $full bytes, $small after objcopy --strip-debug, $packed gzipped (.gpu/r1lab.gz)"
    echo "sha256:     $(sha256sum "$STRIPPED" | cut -d' ' -f1) (unpacked)"
    echo "needs:      $(readelf -d "$STRIPPED" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
} > .gpu/BUILD.txt
cat .gpu/BUILD.txt
echo "build_cuda: ok: .gpu/r1lab.gz ($((packed / 1024 / 1024)) MiB); carry .gpu in the device call"
