import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # services/rules: the rules_service package

import pytest  # noqa: E402

from harness import FakeAggregate, Stream, start_fake_aggregate, start_rules  # noqa: E402
from rules_service.server import Config  # noqa: E402


@pytest.fixture
def chain(request):
    """(stream factory, fake aggregate) with the rules server forwarding to the fake."""
    params = getattr(request, "param", {})
    fake = FakeAggregate(**params)
    agg_server, agg_addr = start_fake_aggregate(fake)
    rules_server, rules_addr, servicer = start_rules(Config(downstream_address=agg_addr))
    streams = []

    def open_stream():
        s = Stream(rules_addr)
        streams.append(s)
        return s

    yield open_stream, fake
    for s in streams:
        s.close()
    rules_server.stop(0).wait()
    servicer.close()
    agg_server.stop(0).wait()
