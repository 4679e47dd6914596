#!/usr/bin/env bash
# Generates the Python protobuf + gRPC code for proto/pipeline/v1/pipeline.proto into
# services/rules/gen/ when it is missing or older than the .proto (fast no-op otherwise).
# Needs the venv: scripts/bootstrap.d/python.sh creates it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROTO="$ROOT/proto/pipeline/v1/pipeline.proto"
PY="$HERE/.venv/bin/python"
if [ ! -x "$PY" ]; then
  bash "$ROOT/scripts/bootstrap.d/python.sh" --quiet
fi
OUT="$HERE/gen/pipeline/v1"
if [ -f "$OUT/pipeline_pb2.py" ] && [ -f "$OUT/pipeline_pb2_grpc.py" ] \
   && [ ! "$PROTO" -nt "$OUT/pipeline_pb2.py" ] && [ ! "$PROTO" -nt "$OUT/pipeline_pb2_grpc.py" ]; then
  exit 0
fi
cd "$HERE"
"$PY" -m rules_service._gen
