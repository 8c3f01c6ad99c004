#!/usr/bin/env bash
# Installs what the notebooks need, once: the evcxr Jupyter kernel (`rust`, from crates.io; about
# 4 minutes to compile on 2 cores), a small Python environment with nbclient (.venv-nb/, from
# PyPI), and the kernel's build folder (target/evcxr, `tmpdir` in notebooks/evcxr.toml) started
# from the crate's lockfile. Safe to run again: it skips what is already there.
#
# The kernel is compiled at opt-level 1 without LTO: most of its build is rust-analyzer, which it
# uses to read each cell's types, and at opt-level 1 that still takes well under the cell's own
# compilation while the install takes two thirds of the time (reports/LOG.md, time to the first
# notebook cell).
set -euo pipefail
cd "$(dirname "$0")/.."
EVCXR_VERSION=0.22.0
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v evcxr_jupyter >/dev/null; then
  echo "== installing evcxr_jupyter $EVCXR_VERSION (cargo install, minutes)"
  cargo install evcxr_jupyter --locked --version "$EVCXR_VERSION" \
    --config 'profile.release.opt-level=1' --config 'profile.release.lto="off"'
fi
# evcxr's documentation lists rust-src as part of its installation (completions).
rustup component add rust-src >/dev/null 2>&1 || true
evcxr_jupyter --install >/dev/null
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
  echo "python3 with venv is needed (Debian: apt-get install python3 python3-venv)" >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
  else
    exit 1
  fi
fi
if [ ! -x .venv-nb/bin/python ]; then
  echo "== creating .venv-nb (nbclient)"
  python3 -m venv .venv-nb
fi
.venv-nb/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-notebooks.txt
# The kernel resolves the crate's dependencies afresh in its build folder: start it from the
# lockfile the tests ran with (scripts/run_notebooks.py does the same).
mkdir -p target/evcxr
if ! grep -qs 'name = "r1lab"' target/evcxr/Cargo.lock; then
  cp Cargo.lock target/evcxr/Cargo.lock
fi
echo "notebooks ready: kernel 'rust' ($(evcxr_jupyter --version 2>/dev/null || echo evcxr_jupyter)), .venv-nb/bin/python"
