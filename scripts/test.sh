#!/usr/bin/env bash
# The test suite (the README's test command, what CI runs): the Rust tests, then the notebook
# runner's self-test and every notebook executed headlessly at smoke scale into target/notebooks/.
# Installs the notebook kernel and runner on first use (scripts/setup_notebooks.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== vendor/candle-core is crates.io's candle-core 0.11.1 + vendor/candle-core.patch"
bash scripts/check_vendor.sh
echo "== cargo test --release"
cargo test --release
echo "== notebooks (evcxr kernel, smoke scale)"
bash scripts/setup_notebooks.sh
.venv-nb/bin/python scripts/run_notebooks.py --self-test
.venv-nb/bin/python scripts/run_notebooks.py --scale smoke --out target/notebooks
