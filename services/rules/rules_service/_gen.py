"""Generates the Python protobuf + gRPC code for proto/pipeline/v1/pipeline.proto into
services/rules/gen/ (never edited by hand) when it is missing or older than the .proto.

    python -m rules_service._gen          # what scripts/build.sh runs
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE_DIR = os.path.dirname(HERE)
GEN_DIR = os.path.join(SERVICE_DIR, "gen")
PROTO_ROOT = os.path.normpath(os.path.join(SERVICE_DIR, "..", "..", "proto"))
PROTO = os.path.join(PROTO_ROOT, "pipeline", "v1", "pipeline.proto")
OUTPUTS = [os.path.join(GEN_DIR, "pipeline", "v1", f) for f in ("pipeline_pb2.py", "pipeline_pb2_grpc.py")]


def is_fresh() -> bool:
    try:
        src = os.path.getmtime(PROTO)
    except OSError:
        return all(os.path.exists(p) for p in OUTPUTS)  # no .proto here: use what exists
    try:
        return all(os.path.getmtime(p) >= src for p in OUTPUTS)
    except OSError:
        return False


def generate() -> None:
    from grpc_tools import protoc  # only needed when generating

    os.makedirs(SERVICE_DIR, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".gen-", dir=SERVICE_DIR)
    try:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            PROTO,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {PROTO}")
        # Swap the folder in whole, so a concurrent reader never sees half of it.
        old = None
        if os.path.isdir(GEN_DIR):
            old = GEN_DIR + f".old-{os.getpid()}"
            os.rename(GEN_DIR, old)
        try:
            os.rename(tmp, GEN_DIR)
        except OSError:
            if old is not None and not os.path.exists(GEN_DIR):
                os.rename(old, GEN_DIR)
                old = None
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure() -> None:
    if not is_fresh():
        generate()
    if GEN_DIR not in sys.path:
        sys.path.insert(0, GEN_DIR)


def main() -> int:
    if is_fresh():
        return 0
    generate()
    print(f"rules: generated {os.path.relpath(GEN_DIR)} from {os.path.relpath(PROTO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
