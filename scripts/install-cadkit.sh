#!/usr/bin/env bash
# Installs the cadkit binaries for a CI job and prints the folder holding them.
#
# Inputs (environment only, so CI templates never splice values into this script):
#   CADKIT_INSTALL_URL     a .tar.gz of the binaries (release asset); needs CADKIT_INSTALL_SHA256
#   CADKIT_INSTALL_SHA256  its expected SHA-256 (hex); the archive is refused on mismatch
#   CADKIT_INSTALL_DIR     where to install (default: $RUNNER_TEMP, $AGENT_TEMPDIRECTORY or
#                          $TMPDIR, + /cadkit)
#   CADKIT_SOURCE_DIR      source checkout for `cargo install` (default: this script's repo)
# Order: a checksummed download when CADKIT_INSTALL_URL is set; else binaries already on
# PATH; else `cargo install --locked` from source. On GitHub the folder is added to
# $GITHUB_PATH; elsewhere add it to PATH yourself (the last line printed).
set -euo pipefail
unset BASH_ENV ENV CDPATH
here=$(cd "$(dirname "$0")/.." && pwd)
base=${RUNNER_TEMP:-${AGENT_TEMPDIRECTORY:-${TMPDIR:-/tmp}}}
dest=${CADKIT_INSTALL_DIR:-$base/cadkit}
bin="$dest/bin"
mkdir -p "$bin"

if [ -n "${CADKIT_INSTALL_URL:-}" ]; then
  if [ -z "${CADKIT_INSTALL_SHA256:-}" ]; then
    echo "install-cadkit: CADKIT_INSTALL_URL is set but CADKIT_INSTALL_SHA256 is not; refusing an unverified download" >&2
    exit 1
  fi
  archive="$dest/cadkit.tar.gz"
  curl --fail --silent --show-error --location --retry 3 --output "$archive" "$CADKIT_INSTALL_URL"
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  expected=$(printf '%s' "$CADKIT_INSTALL_SHA256" | tr 'A-F' 'a-f')
  if [ "$actual" != "$expected" ]; then
    rm -f "$archive"
    echo "install-cadkit: checksum mismatch for the downloaded archive (expected $expected, got $actual)" >&2
    exit 1
  fi
  tar -xzf "$archive" -C "$bin" --no-same-owner
  rm -f "$archive"
elif command -v cadkit >/dev/null 2>&1 && command -v cadkit-tag >/dev/null 2>&1; then
  bin=$(dirname "$(command -v cadkit)")
else
  src=${CADKIT_SOURCE_DIR:-$here}
  cargo install --locked --quiet --root "$dest" --path "$src"
fi
for b in cadkit cadkit-build cadkit-snapshot cadkit-image cadkit-update cadkit-tag cadkit-registry-auth cadkit-webhook; do
  if [ ! -x "$bin/$b" ] && ! command -v "$b" >/dev/null 2>&1; then
    echo "install-cadkit: $b is missing after installation" >&2
    exit 1
  fi
done
if [ -n "${TF_BUILD:-}" ]; then
  echo "##vso[task.prependpath]$bin"
fi
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin" >> "$GITHUB_PATH"
fi
echo "$bin"
