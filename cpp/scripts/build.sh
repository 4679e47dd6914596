#!/usr/bin/env bash
# Builds the monolith into cpp/build/<preset>/ with Ninja. Usage: scripts/build.sh [release|asan|tsan]
# Idempotent: re-running with nothing changed is a no-op Ninja pass.
set -euo pipefail
CPP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${1:-release}"
case "$PRESET" in
  release) BUILD_TYPE=Release; SAN="" ;;
  asan)    BUILD_TYPE=RelWithDebInfo; SAN=asan ;;
  tsan)    BUILD_TYPE=RelWithDebInfo; SAN=tsan ;;
  *) echo "usage: $0 [release|asan|tsan]" >&2; exit 2 ;;
esac
BUILD_DIR="$CPP_DIR/build/$PRESET"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$CPP_DIR" -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DMR_SANITIZE="$SAN" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG" >/dev/null
fi
cmake --build "$BUILD_DIR" -- -j"$(nproc)" >&2
