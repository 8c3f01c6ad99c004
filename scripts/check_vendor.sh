#!/usr/bin/env bash
# Checks that vendor/candle-core is exactly crates.io's candle-core 0.11.1 with vendor/candle-core.patch
# applied (its benches/, examples/ and tests/ folders and the packaging files Cargo.lock and
# Cargo.toml.orig left out), so the vendored copy stays auditable. Run by scripts/test.sh.
#
# The published crate comes from cargo's download cache when it is there, otherwise from crates.io;
# either way its SHA-256 must be the one crates.io lists for 0.11.1.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.11.1
SHA256=d11c8be87cfbaef9ebb62fb3f850d1fc8e00cc1d11d393fdbe55a4d5c2cdb325
URL="https://static.crates.io/crates/candle-core/candle-core-$VERSION.crate"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crate="$work/candle-core-$VERSION.crate"
cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/candle-core-$VERSION.crate 2>/dev/null | head -1 || true)
if [ -n "$cached" ]; then
  cp "$cached" "$crate"
elif ! { if command -v curl >/dev/null; then curl -sSfL "$URL" -o "$crate"
          else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$URL" "$crate"; fi; }; then
  echo "check_vendor: could not download $URL; connect to crates.io (or put the .crate file in" \
       "cargo's registry cache) and run again" >&2
  exit 1
fi
got=$(sha256sum "$crate" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "check_vendor: $crate has SHA-256 $got, not crates.io's $SHA256 for candle-core $VERSION" >&2
  exit 1
fi

tar xzf "$crate" -C "$work"
upstream="$work/candle-core-$VERSION"
rm -rf "$upstream"/{benches,examples,tests,Cargo.lock,Cargo.toml.orig}
# `patch` where installed, else git's own (a fresh clone always has git).
apply_patch() {
  if command -v patch >/dev/null; then
    patch -s -p1 -d "$upstream" < vendor/candle-core.patch
  else
    (cd "$upstream" && git apply -p1 "$OLDPWD/vendor/candle-core.patch")
  fi
}
if ! apply_patch; then
  echo "check_vendor: vendor/candle-core.patch no longer applies to candle-core $VERSION" >&2
  exit 1
fi
if ! diff -r "$upstream" vendor/candle-core; then
  echo "check_vendor: vendor/candle-core differs from candle-core $VERSION + vendor/candle-core.patch" \
       "(above). Put the change into the patch (vendor/README.md says how) or undo it." >&2
  exit 1
fi
echo "check_vendor: vendor/candle-core = crates.io candle-core $VERSION + vendor/candle-core.patch"
