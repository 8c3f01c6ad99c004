#!/usr/bin/env bash
# Run ON the GPU machine (NVIDIA H200, CUDA 13.0 driver, no Rust, no network), from the repo root
# of the copied working tree, with the binary built here by scripts/build_cuda.sh carried in .gpu/.
# Writes everything that must come back to $OUT (at most 9 files):
#   gpu_check.json, gpu_check.md   the report of `r1lab gpu-check` (rewritten after every check)
#   gpu_check.log                  its stderr/stdout
#   stages.log                     r1-zero, r1 and distill at smoke scale on the device
#   nvidia-smi.txt, env.txt        the GPU, and which CUDA libraries were found where (+ ldd)
#   BUILD.txt                      how the carried binary was built
#
# The one device call (README.md, section "GPU"):
#   command: bash scripts/gpu_check.sh      carry: [".gpu"]      timeout_s: 590
# The check itself is capped at GPU_CHECK_TIMEOUT seconds (default 300) and each stage run at STAGES_TIMEOUT (80), so the call ends
# inside the 10-minute limit even if something hangs; the report written so far still comes back.
# A dry run of this script here (no GPU): OUT=/tmp/gc EXTRA_LIB_DIRS="$PWD/.cuda/root/lib /tmp/stub"
# GPU_CHECK_DEVICE=cpu GPU_CHECK_ARGS=--quick bash scripts/gpu_check.sh  (/tmp/stub holding the
# libcuda link stub as libcuda.so.1; nvidia-smi is then missing, which the script tolerates).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/gpu-check-out}"
mkdir -p "$OUT"
BIN=/tmp/r1lab-gpu/r1lab   # unpacked from .gpu/r1lab.gz (the carried folder may be read-only)
LIMIT="${GPU_CHECK_TIMEOUT:-300}"

{
    echo "== gpu_check.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
    [ -f .gpu/BUILD.txt ] && cp .gpu/BUILD.txt "$OUT/BUILD.txt"
    mkdir -p "$(dirname "$BIN")"
    if [ -f .gpu/r1lab.gz ]; then
        gzip -dc .gpu/r1lab.gz > "$BIN" && chmod +x "$BIN"
    elif [ -f .gpu/r1lab ]; then
        cp .gpu/r1lab "$BIN" && chmod +x "$BIN"
    fi
    if [ ! -x "$BIN" ]; then
        echo "no .gpu/r1lab.gz: build it first with scripts/build_cuda.sh and carry .gpu"
        exit 2
    fi
    echo "binary: $(sha256sum "$BIN")"

    # The binary links (DT_NEEDED) libcuda.so.1 (the driver's), libcudart.so.13, libcublas.so.13,
    # libcublasLt.so.13, libcurand.so.10 and libnvrtc.so.13. Find each on this machine: the CUDA
    # toolkit, the driver's folder, the system's, then the nvidia-* Python wheels of the image.
    # shellcheck disable=SC2206
    CANDIDATES=(
        ${EXTRA_LIB_DIRS:-}
        /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib
        /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib
        /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64
        /usr/local/cuda*/lib64
    )
    for py in python3 /opt/torch/.venv/bin/python3; do
        d="$("$py" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2>/dev/null)" \
            && [ -d "$d" ] && CANDIDATES+=("$d")
    done
    LIBDIRS=()
    for so in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
        found=""
        for d in "${CANDIDATES[@]}"; do
            if [ -e "$d/$so" ]; then found="$d"; break; fi
        done
        if [ -z "$found" ]; then
            found="$(find /usr /opt /lib /lib64 -name "$so" 2>/dev/null | head -1 | xargs -r dirname)"
        fi
        echo "lib $so: ${found:-NOT FOUND}"
        if [ -n "$found" ] && [[ ! " ${LIBDIRS[*]} " =~ " $found " ]]; then LIBDIRS+=("$found"); fi
    done
    LD_LIBRARY_PATH="$(IFS=:; echo "${LIBDIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "== ldd"
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH" ldd "$BIN"
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH" ldd "$BIN" | grep -q 'not found' && echo "WARNING: a library is missing (see 'not found' above)"
    echo "== nvcc"
    command -v nvcc && nvcc --version | tail -2
} 2>&1 | tee "$OUT/env.txt"
[ -x "$BIN" ] || exit 2
# The sub-shell above cannot export; recompute LD_LIBRARY_PATH from its output.
LD_LIBRARY_PATH="$(sed -n 's/^LD_LIBRARY_PATH=//p' "$OUT/env.txt" | tail -1)"
export LD_LIBRARY_PATH

{
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm --format=csv
} > "$OUT/nvidia-smi.txt" 2>&1
cat "$OUT/nvidia-smi.txt"

echo "== r1lab gpu-check (limit ${LIMIT} s)"
start=$(date +%s)
# shellcheck disable=SC2086
RUST_BACKTRACE=1 timeout --kill-after=10 "$LIMIT" "$BIN" gpu-check --device "${GPU_CHECK_DEVICE:-cuda}" \
    --out "$OUT" ${GPU_CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "== gpu-check exit code $rc after $(( $(date +%s) - start )) s (124 = timed out)" | tee -a "$OUT/gpu_check.log"

# Every stage on the device at smoke scale, in the run context of --device (bf16 for the models
# that are only sampled or evaluated, f32 for the trained ones): R1-Zero, the R1 pipeline (which
# runs R1-Zero first if needed), distillation from its final model. Each has its own time limit
# (STAGES_TIMEOUT, default 80 s each) and its output goes to stages.log.
STAGE_LIMIT="${STAGES_TIMEOUT:-80}"
RUNS=/tmp/r1lab-gpu/runs
for stage in r1-zero r1 distill; do
    echo "== r1lab --device ${GPU_CHECK_DEVICE:-cuda} $stage --scale smoke (limit ${STAGE_LIMIT} s)"
    t0=$(date +%s)
    RUST_BACKTRACE=1 timeout --kill-after=10 "$STAGE_LIMIT" "$BIN" --device "${GPU_CHECK_DEVICE:-cuda}" \
        "$stage" --scale smoke --runs "$RUNS" --reports /tmp/r1lab-gpu/reports 2>&1
    src=$?
    echo "== $stage exit code $src after $(( $(date +%s) - t0 )) s"
done 2>&1 | tee "$OUT/stages.log"
grep -q "exit code [1-9]" "$OUT/stages.log" && [ "$rc" -eq 0 ] && rc=1
rm -f "$OUT"/*.partial-* 2>/dev/null
ls -la "$OUT"
exit "$rc"
