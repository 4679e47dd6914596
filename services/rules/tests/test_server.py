"""RulesService over real gRPC channels, in-process: header + batches + end through the stage to
a fake downstream AggregateService; acks, window, metrics, RunComplete, and every failure path."""

import time

import grpc
import pytest

from harness import FakeAggregate, FakeControl, Stream, decode, end, events_batch, header, start_fake_aggregate, start_rules, wait_until
from rules_service.pb import pb
from rules_service import server
from rules_service.server import Config


def downstream_run_broken(fake):
    """The downstream's stream was cancelled (or, when the cancel came before the downstream's
    handler started, the handler never ran at all)."""
    return fake.cancelled.is_set() or fake.streams == 0


DL = pb.DeadLetter(line=3, reason=pb.DEAD_LETTER_REASON_INVALID_JSON, detail="not json")


def test_a_run_drops_tags_acks_and_completes(chain):
    open_stream, fake = chain
    s = open_stream()
    h = header("", run_id="run-ok")
    s.send(h)
    batches = [
        events_batch(1, [(10, "view", "u1", 5), (11, "click", "u1", 100), (12, "click", "ü", 99)], dead_letters=[DL]),
        events_batch(2, [(20, "view", "u2", 1)]),
        events_batch(3, [(30, "buy", "u3", -2147483648), (31, "buy", "u3", 2147483647)]),
        events_batch(4, []),
    ]
    for b in batches:
        s.send(b)
    s.send(end(4))
    s.wait()
    assert s.error is None, s.error
    assert s.acks() == [1, 2, 3, 4]
    done = s.complete()
    assert done.run_id == "run-ok" and done.dropped == 2 and done.batches == 4

    got = list(fake.received)
    assert [r.WhichOneof("kind") for r in got] == ["header", "batch", "batch", "batch", "batch", "end"]
    assert got[0].SerializeToString() == h.SerializeToString()  # the header, unchanged
    out = [r.batch for r in got[1:5]]
    assert decode(out[0]) == ([(11, "click", "u1", 100), (12, "click", "ü", 99)], [[b"tier=high"], [b"tier=low"]])
    assert decode(out[1]) == ([], [])
    assert decode(out[2]) == ([(30, "buy", "u3", -2147483648), (31, "buy", "u3", 2147483647)], [[b"tier=low"], [b"tier=high"]])
    assert decode(out[3]) == ([], [])
    assert [b.counters.dropped for b in out] == [1, 1, 0, 0]
    assert [(b.counters.lines, b.counters.invalid) for b in out] == [(4, 1), (1, 0), (2, 0), (0, 0)]
    for sent, b in zip(batches, out):
        assert b.meta == sent.batch.meta  # copied unchanged
        assert list(b.dead_letters) == list(sent.batch.dead_letters)
        assert list(b.events.type_dict) == list(sent.batch.events.type_dict)  # dictionaries passed on

    stages = got[5].end.stages
    assert [m.stage for m in stages] == ["parse", "rules"]
    m = stages[1]
    assert (m.language, m.batches_in, m.batches_out, m.events_in, m.events_out) == ("python", 4, 4, 6, 4)
    assert m.pid > 0 and m.peak_rss_bytes > 0 and m.cpu_seconds >= 0 and m.busy_ns > 0 and m.wait_ns > 0
    assert list(done.stages)[-1].stage == "rules"


@pytest.mark.parametrize("chain", [{"auto_ack": False}], indirect=True)
def test_at_most_eight_batches_in_flight(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    for t in range(1, 21):
        s.send(events_batch(t, [(t, "click", "u", t)]))
    assert wait_until(lambda: fake.batches_seen >= 8)
    time.sleep(0.4)
    assert fake.batches_seen == 8  # the window is full: the ninth waits for a credit
    assert wait_until(lambda: len(s.acks()) == 8) and s.acks() == list(range(1, 9))
    fake.release(3)
    assert wait_until(lambda: fake.batches_seen == 11)
    time.sleep(0.2)
    assert fake.batches_seen == 11
    fake.release(100)
    s.send(end(20))
    s.wait()
    assert s.error is None
    assert s.acks() == list(range(1, 21))
    assert fake.max_unacked == 8
    rules_metrics = [m for m in s.complete().stages if m.stage == "rules"][0]
    assert rules_metrics.wait_ns > 400_000_000  # it waited for credit


def test_bad_rules_fail_with_invalid_argument_before_the_downstream_is_opened(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header('{"drop":[{"field":"type","op":"foo","value":"x"}]}'))
    s.wait()
    assert s.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert s.error.details() == 'rules: drop[0]: unknown op "foo" (expected eq, ne, lt, lte, gt, gte, in or prefix)'
    s2 = open_stream()
    s2.send(header("{not json"))
    s2.wait()
    assert s2.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert s2.error.details().startswith("rules: rules_json is not valid JSON: ")
    s3 = open_stream()
    s3.send(header('{"tag":[{"when":{"field":"user","op":"eq","value":"a"},"set":{"t":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa😀😀😀😀"}}],"x":1}'))
    s3.wait()
    assert s3.error.details() == 'rules: unknown key "x" (expected drop, tag, windowSeconds)'
    assert fake.streams == 0


def test_malformed_batch_fails_with_invalid_argument_and_cancels_the_downstream(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    bad = events_batch(2, [(1, "click", "u", 1), (2, "click", "u", 2)])
    bad.batch.events.value = b"\0" * 4  # 2 events, 1 value
    s.send(bad)
    s.wait()
    assert s.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert s.error.details() == "rules: batch 2: column value has 4 bytes, expected 8 for 2 events"
    assert s.acks() == [1]
    assert wait_until(lambda: downstream_run_broken(fake))

    s = open_stream()
    s.send(header())
    bad = events_batch(7, [(1, "click", "u", 1)])
    bad.batch.events.type_index = b"\x05\0\0\0"
    s.send(bad)
    s.wait()
    assert (s.error.code(), s.error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "rules: batch 7: type_index holds 5, but type_dict has 1 entries")

    s = open_stream()
    s.send(header())
    s.send(pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=1), raw=pb.RawLines(data=b"{}\n"))))
    s.wait()
    assert (s.error.code(), s.error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "rules: batch 1: expected events, got raw lines")


def test_a_failed_run_cancels_the_downstream_call_never_half_closes_it(chain, monkeypatch):
    """Only End may end the downstream's request stream; after an error the call is cancelled,
    so the downstream cannot take the run for finished (PIPELINE.md "Errors")."""
    open_stream, fake = chain
    # grpc half-closes a call when its request iterator ends, unless the call is cancelled by
    # then: record, for every run, whether it was.
    cancelled_at_end: dict[str, bool] = {}
    requests = server._Run._down_requests

    def spy(run):
        yield from requests(run)
        cancelled_at_end[run.run_id] = run.call is not None and run.call.cancelled()

    monkeypatch.setattr(server._Run, "_down_requests", spy)
    s = open_stream()
    s.send(header(run_id="bad-batch"))
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    bad = events_batch(2, [(1, "click", "u", 1)])
    bad.batch.events.value = b""
    s.send(bad)
    s.wait()
    assert s.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wait_until(lambda: fake.stream_ended and fake.stream_ended[0].is_set())

    s = open_stream()
    s.send(header(run_id="short"))
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    assert wait_until(lambda: s.acks() == [1])
    s.close_send()  # the upstream half-closes before End
    s.wait()
    assert s.error.code() == grpc.StatusCode.ABORTED
    assert wait_until(lambda: len(fake.stream_ended) == 2 and fake.stream_ended[1].is_set())
    assert [m.WhichOneof("kind") for m in fake.per_stream[1]] == ["header", "batch"]
    assert not fake.half_closed.is_set()

    s = open_stream()
    s.send(header(run_id="gone"))
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    assert wait_until(lambda: s.acks() == [1])
    s.close()  # the upstream cancels
    assert wait_until(lambda: len(fake.stream_ended) == 3 and fake.stream_ended[2].is_set())
    assert not fake.half_closed.is_set()
    assert wait_until(lambda: len(cancelled_at_end) == 3)
    assert cancelled_at_end == {"bad-batch": True, "short": True, "gone": True}


def test_first_message_must_be_a_header(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(events_batch(1, [(1, "a", "u", 1)]))
    s.wait()
    assert s.error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert s.error.details() == "rules: the first message must be a RunHeader, got batch"
    assert fake.streams == 0


@pytest.mark.parametrize("chain", [{"fail_after": 2}], indirect=True)
def test_downstream_failure_is_passed_upstream_with_its_code(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    for t in range(1, 5):
        s.send(events_batch(t, [(t, "click", "u", t)]))
    s.wait()
    assert s.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert s.error.details() == "rules: aggregate failed: aggregate: out of partitions"


def test_stream_ending_before_end_is_aborted(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    s.close_send()
    s.wait()
    assert (s.error.code(), s.error.details()) == (grpc.StatusCode.ABORTED, "rules: the stream ended before End")
    assert wait_until(lambda: downstream_run_broken(fake))


def test_upstream_cancel_cancels_the_downstream(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    s.send(events_batch(1, [(1, "click", "u", 1)]))
    assert wait_until(lambda: s.acks() == [1])
    s.call.cancel()
    assert wait_until(fake.cancelled.is_set)


def test_passthrough_forwards_batches_unchanged(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header(passthrough=True))
    b1 = events_batch(1, [(1, "view", "u", 1), (2, "click", "u", 500)])
    b2 = pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=2), raw=pb.RawLines(data=b"{}\n", line_numbers=b"\1" + b"\0" * 7)))
    s.send(b1)
    s.send(b2)
    s.send(end(2))
    s.wait()
    assert s.error is None and s.acks() == [1, 2]
    got = [r for r in fake.received if r.WhichOneof("kind") == "batch"]
    assert [g.SerializeToString() for g in got] == [b1.SerializeToString(), b2.SerializeToString()]


def test_several_runs_at_once(chain):
    open_stream, fake = chain
    streams = [open_stream() for _ in range(3)]
    for i, s in enumerate(streams):
        s.send(header(run_id=f"r{i}"))
    for t in range(1, 31):
        for s in streams:
            s.send(events_batch(t, [(t, "view" if t % 3 == 0 else "click", "u", t)]))
    for s in streams:
        s.send(end(30))
    for s in streams:
        s.wait()
        assert s.error is None and s.acks() == list(range(1, 31))
        assert s.complete().dropped == 10


# -- topology ---------------------------------------------------------------------------------------
def test_downstream_is_found_through_lookup_and_missing_one_is_unavailable():
    control = FakeControl()
    fake = FakeAggregate()
    agg_server, agg_addr = start_fake_aggregate(fake)
    rules_server, rules_addr, servicer = start_rules(Config(control_url=control.url, downstream="aggregate-x", lookup_timeout_s=0.6))
    try:
        s = Stream(rules_addr)
        s.send(header())
        s.wait()
        assert s.error.code() == grpc.StatusCode.UNAVAILABLE
        assert s.error.details() == "rules: downstream aggregate-x is not registered with the topology"
        lookups = [c for c in control.calls if c[0] == "LookupService"]
        assert len(lookups) >= 3 and lookups[0][1] == {"name": "aggregate-x"}  # retried every 100 ms

        control.instances["aggregate-x"] = agg_addr
        s = Stream(rules_addr)
        s.send(header())
        s.send(events_batch(1, [(1, "click", "u", 1)]))
        s.send(end(1))
        s.wait()
        assert s.error is None and s.acks() == [1] and s.complete() is not None
    finally:
        rules_server.stop(0).wait()
        servicer.close()
        agg_server.stop(0).wait()
        control.close()


def test_reporter_registers_beats_reports_activity_and_unregisters(monkeypatch):
    from rules_service.log import Logger
    from rules_service.topology import Activity, Reporter, TopologyClient

    from harness import NullStream

    control = FakeControl()
    activity = Activity()
    rep = Reporter(TopologyClient(control.url, "tok"), "rules", "127.0.0.1:5555", "127.0.0.1", ["aggregate"], Logger("rules", stream=NullStream()), activity, process_name="rules")
    rep.start()
    try:
        assert wait_until(lambda: control.methods().count("SendHeartbeat") >= 2)
        reg = control.calls[0]
        assert reg[0] == "RegisterService"
        assert reg[1]["name"] == "rules" and reg[1]["type"] == "SERVICE_TYPE_HYBRID" and reg[1]["language"] == "SERVICE_LANGUAGE_PYTHON"
        assert reg[1]["address"] == "127.0.0.1:5555" and reg[1]["dependencies"] == ["aggregate"] and reg[1]["processName"] == "rules"
        assert reg[2]["Authorization"] == "Bearer tok" and reg[2]["Content-Type"] == "application/json"
        beat = [c for c in control.calls if c[0] == "SendHeartbeat"][0][1]
        assert beat["instanceId"] == "id-1" and beat["health"] == {"state": "HEALTH_STATE_HEALTHY"}
        assert int(beat["metrics"]["rssBytes"]) > 0 and isinstance(beat["metrics"]["cpuPercent"], float) and beat["sequence"] == "1"

        activity.record("aggregate", "pipeline.v1.RulesService/Process", 0.002, 10000)
        activity.record("aggregate", "pipeline.v1.RulesService/Process", 0.004, 5000)
        assert wait_until(lambda: "ReportActivity" in control.methods(), timeout=3)
        rep_body = [c for c in control.calls if c[0] == "ReportActivity"][0][1]
        ev = rep_body["events"][0]
        assert rep_body["instanceId"] == "id-1"
        assert (ev["targetService"], ev["type"], ev["count"], ev["itemCount"], ev["latencySumUs"], ev["latencyMaxUs"]) == (
            "aggregate", "ACTIVITY_TYPE_REQUEST", 2, "15000", "6000", "4000")

        control.refuse_beats = True  # declared dead: registers again
        assert wait_until(lambda: control.methods().count("RegisterService") >= 2)
        control.refuse_beats = False
    finally:
        rep.stop()
    assert control.methods()[-1] == "UnregisterService"
    control.close()
