#!/usr/bin/env bash
# Installs what the notebooks need, once: the evcxr Jupyter kernel (`rust`, from crates.io; about
# 11 minutes to compile on 2 cores) and a small Python environment with nbclient (.venv-nb/, from
# PyPI). Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
EVCXR_VERSION=0.22.0
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v evcxr_jupyter >/dev/null; then
  echo "== installing evcxr_jupyter $EVCXR_VERSION (cargo install, minutes)"
  cargo install evcxr_jupyter --locked --version "$EVCXR_VERSION"
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
echo "notebooks ready: kernel 'rust' ($(evcxr_jupyter --version 2>/dev/null || echo evcxr_jupyter)), .venv-nb/bin/python"
