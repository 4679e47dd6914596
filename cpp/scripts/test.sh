#!/usr/bin/env bash
# Builds release, asan (ASan+UBSan) and tsan and runs ctest on each; non-zero on any failure.
set -uo pipefail
CPP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
status=0
for preset in release asan tsan; do
  echo "== $preset ==" >&2
  if ! bash "$CPP_DIR/scripts/build.sh" "$preset"; then
    echo "build failed: $preset" >&2
    status=1
    continue
  fi
  # halt_on_error keeps sanitizer findings fatal; TSan second_deadlock_stack helps reading reports.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$CPP_DIR/build/$preset" --output-on-failure -j"$(nproc)" || status=1
done
exit $status
