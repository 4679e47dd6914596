#!/usr/bin/env bash
# Debian packages the C++ monolith (cpp/) needs to build and test; idempotent and quiet when
# everything is present. Called by scripts/bootstrap.sh with its --quiet flag.
set -euo pipefail
QUIET="${1:-}"
PACKAGES=(cmake ninja-build g++ libgtest-dev libssl-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "bootstrap/cpp: need Debian packages ${missing[*]} but cannot install them (not root, no sudo)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
[ "$QUIET" = "--quiet" ] || echo "bootstrap/cpp: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
