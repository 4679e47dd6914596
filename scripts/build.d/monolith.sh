#!/usr/bin/env bash
# Builds the C++ monolith (release), so the dashboard's Benchmark view and the tests find it
# ready instead of building it inside their first run. Idempotent: a no-op Ninja pass when nothing
# changed. Its toolchain (CMake, Ninja, GoogleTest) comes from scripts/bootstrap.d/cpp.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$ROOT/cpp/scripts/build.sh" release || { echo "build: the C++ monolith failed to build (cpp/scripts/build.sh release)" >&2; exit 1; }
