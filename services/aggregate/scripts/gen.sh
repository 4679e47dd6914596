#!/usr/bin/env bash
# Regenerates services/aggregate/gen/ (Go protobuf + gRPC code for proto/pipeline/v1) with buf
# and the protoc-gen-go / protoc-gen-go-grpc versions pinned in services/aggregate/go.mod.
#   gen.sh           regenerate gen/ in place
#   gen.sh --check   generate into a temporary tree and fail if the committed gen/ differs
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

buf="$root/proto/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
  echo "gen.sh: $buf is missing (run pnpm install in the repository root first)" >&2
  exit 1
fi

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: gen.sh [--check]" >&2; exit 2 ;;
esac

generate() { # $1: output root (a directory laid out like the repository root)
  local out="$1"
  if [[ "$out" == "$root" ]]; then
    "$buf" generate proto --template services/aggregate/buf.gen.go.yaml --path proto/pipeline/v1/pipeline.proto
  else
    # buf writes `out:` relative to the working directory: run it in a scratch root that
    # links to the real proto/ and services/aggregate/ sources.
    mkdir -p "$out/services/aggregate"
    ln -s "$root/proto" "$out/proto"
    for f in go.mod go.sum buf.gen.go.yaml; do ln -s "$here/$f" "$out/services/aggregate/$f"; done
    (cd "$out" && "$buf" generate proto --template services/aggregate/buf.gen.go.yaml --path proto/pipeline/v1/pipeline.proto)
  fi
}

if [[ $check -eq 0 ]]; then
  rm -rf "$here/gen"
  generate "$root"
  echo "gen.sh: regenerated services/aggregate/gen"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
generate "$tmp"
if ! diff -r "$here/gen" "$tmp/services/aggregate/gen" >"$tmp/diff.txt" 2>&1; then
  echo "gen.sh --check: services/aggregate/gen is stale; run services/aggregate/scripts/gen.sh" >&2
  head -50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "gen.sh --check: services/aggregate/gen is up to date"
