"""The generated pipeline.v1 messages and service stubs (generated into ../gen on demand)."""

from . import _gen

_gen.ensure()

from pipeline.v1 import pipeline_pb2 as pb  # noqa: E402
from pipeline.v1 import pipeline_pb2_grpc as pb_grpc  # noqa: E402

__all__ = ["pb", "pb_grpc"]
