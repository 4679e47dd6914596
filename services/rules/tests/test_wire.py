"""The hand-built wire path (rules_service/wire.py, batch.BatchWorker) against the protobuf
library: for every batch, the spliced output must be the bytes upb writes for the same change,
and batches in shapes the fast path does not take must still come out right (through upb)."""

import queue
import threading
import zlib

import grpc
import numpy as np
import pytest
from google.protobuf.message import DecodeError

from harness import FakeAggregate, end, events_batch, header, start_fake_aggregate, start_rules
from rules_service import wire
from rules_service.batch import BatchWorker, Malformed
from rules_service.engine import BatchError, Engine
from rules_service.pb import pb
from rules_service.rules import parse_rules
from rules_service.server import Config

DEFAULT = ""
NO_TAGS = '{"drop":[{"field":"type","op":"eq","value":"view"}],"tag":[]}'
NO_DROPS = '{"drop":[],"tag":[{"when":{"field":"value","op":"gte","value":100},"set":{"tier":"high"}}]}'
USER_RULES = (
    '{"drop":[{"field":"user","op":"prefix","value":"bot-"}],'
    '"tag":[{"when":{"field":"user","op":"in","value":["alice","bob"]},"set":{"vip":"yes","b":"1"}},'
    '{"when":{"field":"type","op":"ne","value":"click"},"set":{"kind":"other"}},'
    '{"when":{"field":"value","op":"lt","value":0},"set":{"vip":"no"}}]}'
)
DROP_ALL = '{"drop":[{"field":"value","op":"gte","value":-2147483648}],"tag":[]}'
MANY_TYPES = '{"drop":[{"field":"type","op":"in","value":["t1","t3","t5","t7","t9"]}],"tag":[{"when":{"field":"type","op":"gte","value":"t4"},"set":{"late":"1"}}]}'


def worker(rules_json, passthrough=False):
    cache = {}

    def tag_set_wire(pairs):
        if pairs not in cache:
            cache[pairs] = wire.encode_tag_set(pairs)
        return cache[pairs]

    return BatchWorker(Engine(parse_rules(rules_json)), passthrough, tag_set_wire)


def random_events(rng, n, types=("view", "click", "buy"), users=50, user_names=None):
    names = user_names or [f"user-{i}" for i in range(users)]
    return [
        (1_700_000_000 + int(rng.integers(0, 3600)), types[int(rng.integers(0, len(types)))], names[int(rng.integers(0, len(names)))], int(rng.integers(-300, 300)))
        for _ in range(n)
    ]


def both_paths(w, req):
    """(fast output, upb output, fast (n_in, n_out), upb (n_in, n_out)), asserting the fast path
    was taken."""
    raw = req.SerializeToString()
    kind, msg, s, e = wire.parse_request(raw)
    assert kind == "batch" and msg is None
    v = wire.scan_batch(raw, s, e, columns=True)
    assert v.fast, "a batch as every encoder writes it must take the fast path"
    out, n_in, n_out = w.work(raw, None, s, e)
    trace_fast = w.trace
    ref, r_in, r_out = w.work_upb(raw, pb.StageRequest.FromString(raw))
    assert w.trace == trace_fast
    return out, ref, (n_in, n_out), (r_in, r_out)


DEAD = [pb.DeadLetter(line=3, reason=pb.DEAD_LETTER_REASON_INVALID_JSON, detail="not json"), pb.DeadLetter(line=9, reason=pb.DEAD_LETTER_REASON_INVALID_EVENT)]

CASES = [
    ("default, drops and tags", DEFAULT, dict(n=500)),
    ("no drops", NO_DROPS, dict(n=300)),
    ("no tag rules: one empty tag set", NO_TAGS, dict(n=200)),
    ("rules on users (dictionary materialised)", USER_RULES, dict(n=400, user_names=["alice", "bob", "bot-1", "bot-2", "carol", "", "dave"])),
    ("every event dropped", DROP_ALL, dict(n=100)),
    ("many types: the gather path", MANY_TYPES, dict(n=600, types=tuple(f"t{i}" for i in range(12)))),
    ("one event", DEFAULT, dict(n=1, types=("click",))),
    ("thousands of users", DEFAULT, dict(n=5000, users=4000)),
    ("long user names (2-byte lengths)", USER_RULES, dict(n=50, user_names=["alice", "x" * 300, "bot-" + "y" * 200])),
]


@pytest.mark.parametrize("name,rules,kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dead", [False, True], ids=["no-dead-letters", "dead-letters"])
def test_spliced_batch_is_what_upb_writes(name, rules, kw, dead):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    w = worker(rules)
    events = random_events(rng, kw["n"], types=kw.get("types", ("view", "click", "buy")), users=kw.get("users", 50), user_names=kw.get("user_names"))
    req = events_batch(42, events, dead_letters=DEAD if dead else ())
    out, ref, got_counts, ref_counts = both_paths(w, req)
    assert out == ref
    assert got_counts == ref_counts
    assert w.trace == 42
    # and it is what it should be: the engine's verdict on the plain columns
    res = Engine(parse_rules(rules)).apply(**{k: getattr(req.batch.events, k) for k in ("count", "ts_seconds", "value", "type_index", "type_dict", "user_index", "user_dict")})
    got = pb.StageRequest.FromString(out).batch
    assert got.events.count == res.count == got_counts[1]
    assert got.counters.dropped == res.dropped
    assert got.events.value == res.value and got.events.tag_set_index == res.tag_set_index
    assert [tuple(t.pairs) for t in got.events.tag_sets] == res.tag_sets
    assert list(got.dead_letters) == list(req.batch.dead_letters)
    assert got.meta == req.batch.meta


def test_batches_without_events_or_dictionaries():
    w = worker(DEFAULT)
    shapes = [
        pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=5), counters=pb.BatchCounters(lines=3, invalid=3), dead_letters=DEAD)),
        pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=6), events=pb.Events())),  # empty events
        pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=7), counters=pb.BatchCounters(), events=pb.Events(count=0))),
        pb.StageRequest(batch=pb.Batch(events=pb.Events(type_dict=[b"view"], user_dict=[b"u"]))),  # no meta, unused dicts
        pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=8), events=pb.Events(count=0, type_dict=[b""], user_dict=[b""]))),
        pb.StageRequest(batch=pb.Batch()),
    ]
    for req in shapes:
        out, ref, got_counts, ref_counts = both_paths(w, req)
        assert out == ref, req
        assert got_counts == ref_counts == (0, 0)
    # all dropped, no counters message before: one appears, with dropped only
    req = events_batch(9, [(1, "view", "u", 1), (2, "view", "v", 2)])
    req.batch.ClearField("counters")
    out, ref, got_counts, _ = both_paths(w, req)
    assert out == ref and got_counts == (2, 0)
    got = pb.StageRequest.FromString(out).batch
    assert got.HasField("counters") and got.counters.dropped == 2 and got.events.count == 0
    assert got.events.tag_set_index == b"" and len(got.events.tag_sets) == 0


def test_empty_user_and_type_strings_and_upstream_tags_are_replaced():
    w = worker(USER_RULES)
    req = events_batch(3, [(1, "", "", 5), (2, "click", "alice", -5), (3, "", "bot-9", 1)])
    # tags set upstream (they should not be): replaced, as the upb path does
    req.batch.events.tag_set_index = b"\x07\0\0\0" * 3
    req.batch.events.tag_sets.add().pairs.append(b"old=1")
    raw = req.SerializeToString()
    kind, msg, s, e = wire.parse_request(raw)
    out, n_in, n_out = w.work(raw, msg, s, e)
    ref, _, _ = w.work_upb(raw, pb.StageRequest.FromString(raw))
    assert pb.StageRequest.FromString(out) == pb.StageRequest.FromString(ref)
    assert (n_in, n_out) == (3, 2)
    assert b"old=1" not in out


def _field(num, wt, payload):
    tag = wire.varint(num << 3 | wt)
    if wt == 2:
        return tag + wire.varint(len(payload)) + payload
    return tag + payload


def _events_wire(fields):
    return b"".join(_field(n, wt, p) for n, wt, p in fields)


def _batch_wire(events_body, trace=1, extra=b""):
    meta = _field(1, 2, pb.BatchMeta(trace_id=trace).SerializeToString())
    counters = _field(2, 2, pb.BatchCounters(lines=2).SerializeToString())
    body = meta + counters + extra + _field(5, 2, events_body)
    return _field(2, 2, body)


def _cols(n, ti, ui, values):
    return [
        (1, 0, wire.varint(n)),
        (2, 2, np.arange(n, dtype="<i8").tobytes()),
        (3, 2, np.array(values, "<i4").tobytes()),
        (4, 2, np.array(ti, "<u4").tobytes()),
        (6, 2, np.array(ui, "<u4").tobytes()),
    ]


CANONICAL = _cols(2, [0, 1], [0, 1], [5, 500]) + [(5, 2, b"view"), (5, 2, b"click"), (7, 2, b"a"), (7, 2, b"b")]
DICTS_FIRST = [(7, 2, b"a"), (7, 2, b"b"), (5, 2, b"view"), (5, 2, b"click")] + list(reversed(_cols(2, [0, 1], [0, 1], [5, 500])))

UNUSUAL = {
    # user_dict entries interleaved with another field: the run is not one piece
    "users interleaved": lambda: _batch_wire(_events_wire(_cols(2, [0, 1], [0, 1], [5, 500]) + [(5, 2, b"view"), (7, 2, b"a"), (5, 2, b"click"), (7, 2, b"b")])),
    # tag_set_index after the users (an encoder writing it): cut out by upb
    "tag_set_index after users": lambda: _batch_wire(_events_wire(_cols(2, [0, 1], [0, 1], [5, 500]) + [(5, 2, b"view"), (5, 2, b"click"), (7, 2, b"a"), (7, 2, b"b"), (8, 2, b"\0" * 8)])),
    # the dictionaries first, then the columns in reverse order
    "dictionaries first": lambda: _batch_wire(_events_wire(DICTS_FIRST)),
    # an unknown field in the batch
    "unknown batch field": lambda: _batch_wire(_events_wire(_cols(1, [0], [0], [5]) + [(5, 2, b"click"), (7, 2, b"a")]), extra=_field(15, 0, b"\x01")),
    # meta twice: merged by protobuf (trace id of the second)
    "meta twice": lambda: _batch_wire(_events_wire(_cols(1, [0], [0], [5]) + [(5, 2, b"click"), (7, 2, b"a")]), trace=1, extra=_field(1, 2, pb.BatchMeta(trace_id=77).SerializeToString())),
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_unusual_encodings_fall_back_to_upb(name):
    raw = UNUSUAL[name]()
    kind, msg, s, e = wire.parse_request(raw)
    assert kind == "batch"
    assert not wire.scan_batch(raw, s, e, columns=True).fast
    w = worker(DEFAULT)
    out, n_in, n_out = w.work(raw, msg, s, e)
    parsed = pb.StageRequest.FromString(raw)
    ref, r_in, r_out = w.work_upb(raw, parsed)
    assert out == ref and (n_in, n_out) == (r_in, r_out)
    assert w.trace == parsed.batch.meta.trace_id


def test_same_message_whichever_field_order():
    """Fields in another order mean the same batch: the same bytes go on."""
    canonical, reverse = _batch_wire(_events_wire(CANONICAL)), _batch_wire(_events_wire(DICTS_FIRST))
    assert wire.scan_batch(canonical, *wire.parse_request(canonical)[2:], columns=True).fast
    w = worker(DEFAULT)
    a = w.work(canonical, None, *wire.parse_request(canonical)[2:])
    b = w.work(reverse, None, *wire.parse_request(reverse)[2:])
    assert a == b
    got = pb.StageRequest.FromString(a[0]).batch.events
    assert got.count == 1 and list(got.type_dict) == [b"view", b"click"] and list(got.user_dict) == [b"a", b"b"]


def test_passthrough_forwards_the_bytes_as_received():
    w = worker(DEFAULT, passthrough=True)
    req = events_batch(4, [(1, "view", "u", 1), (2, "click", "v", 500)], dead_letters=DEAD)
    raw = req.SerializeToString()
    out, n_in, n_out = w.work(raw, None, *wire.parse_request(raw)[2:])
    assert out is raw and (n_in, n_out) == (2, 2) and w.trace == 4
    raw = pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=5), raw=pb.RawLines(data=b"{}\n"))).SerializeToString()
    out, n_in, n_out = w.work(raw, None, *wire.parse_request(raw)[2:])
    assert out is raw and (n_in, n_out) == (0, 0) and w.trace == 5
    raw = UNUSUAL["users interleaved"]()
    out, n_in, n_out = w.work(raw, None, *wire.parse_request(raw)[2:])
    assert out is raw and (n_in, n_out) == (2, 2)


def test_malformed_bytes():
    w = worker(DEFAULT)
    good = events_batch(3, [(1, "click", "u", 1)]).SerializeToString()
    with pytest.raises(DecodeError):  # the server reports it as INVALID_ARGUMENT (below)
        wire.parse_request(good[:-5])
    # one field whose inner bytes are broken (a length running past the batch)
    inner = _field(1, 2, pb.BatchMeta(trace_id=1).SerializeToString()) + b"\x2a\x7f\x08"
    bad = _field(2, 2, inner)
    kind, msg, s, e = wire.parse_request(bad)
    assert kind == "batch" and msg is None
    with pytest.raises(Malformed):
        w.work(bad, msg, s, e)
    # raw lines where events belong
    raw = pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=5), raw=pb.RawLines(data=b"x\n"))).SerializeToString()
    with pytest.raises(BatchError):
        w.work(raw, None, *wire.parse_request(raw)[2:])


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**63 - 1, 2**64 - 1])
def test_varints_and_acks_match_protobuf(n):
    assert wire.ack(n) == pb.StageResponse(ack=n).SerializeToString()
    enc = wire.varint(n)
    assert wire.read_varint(enc, 0, len(enc)) == (n, len(enc))
    assert wire.only_varint(pb.StageResponse(checkpoint_done=n).SerializeToString()) == (3, n)
    with pytest.raises(wire.WireError):
        wire.read_varint(enc[:-1], 0, len(enc) - 1)


def test_request_kinds():
    for msg, kind in ((header(), "header"), (end(3), "end"), (pb.StageRequest(barrier=pb.Barrier(checkpoint_id=2)), "barrier"), (events_batch(1, []), "batch")):
        raw = msg.SerializeToString()
        k, parsed, s, e = wire.parse_request(raw)
        assert (k, parsed) == (kind, None)
        assert getattr(msg, kind).SerializeToString() == raw[s:e]
    k, parsed, _, _ = wire.parse_request(b"")
    assert k is None and parsed is not None
    # two kinds in one message: protobuf's last-one-wins, through upb
    raw = header().SerializeToString() + end(1).SerializeToString()
    k, parsed, _, _ = wire.parse_request(raw)
    assert k == "end" and parsed is not None
    with pytest.raises(DecodeError):
        wire.parse_request(b"\x12\x05ab")


def test_tag_set_entries_match_protobuf():
    for pairs in ((), (b"a=1",), (b"tier=high", b"x=" + b"y" * 200)):
        ev = pb.Events()
        ev.tag_sets.add().pairs.extend(pairs)
        assert wire.encode_tag_set(pairs) == ev.SerializeToString()


# -- over gRPC: bytes no encoder of ours writes ---------------------------------------------------
def _raw_stream(address):
    ch = grpc.insecure_channel(address)
    q = queue.SimpleQueue()

    def reqs():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    call = ch.stream_stream("/pipeline.v1.RulesService/Process", request_serializer=None, response_deserializer=pb.StageResponse.FromString)(reqs())
    out = {"responses": [], "error": None}

    def read():
        try:
            for r in call:
                out["responses"].append(r)
        except grpc.RpcError as e:
            out["error"] = e

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return q, t, out, ch


@pytest.fixture
def raw_chain():
    fake = FakeAggregate()
    agg_server, agg_addr = start_fake_aggregate(fake)
    rules_server, address, servicer = start_rules(Config(downstream_address=agg_addr))
    yield address, fake
    rules_server.stop(0).wait()
    agg_server.stop(0).wait()


def test_unusual_and_malformed_batches_over_grpc(raw_chain):
    address, fake = raw_chain
    q, t, out, ch = _raw_stream(address)
    q.put(header().SerializeToString())
    q.put(UNUSUAL["users interleaved"]())
    q.put(events_batch(2, [(1, "click", "u", 1)]).SerializeToString())
    q.put(end(2).SerializeToString())
    q.put(None)
    t.join(10)
    assert out["error"] is None
    assert [r.ack for r in out["responses"] if r.WhichOneof("kind") == "ack"] == [1, 2]
    batches = [r.batch for r in fake.received if r.WhichOneof("kind") == "batch"]
    assert [b.events.count for b in batches] == [1, 1]  # "view" dropped from the first
    assert list(batches[0].events.user_dict) == [b"a", b"b"]
    ch.close()

    q, t, out, ch = _raw_stream(address)
    q.put(header(run_id="run-2").SerializeToString())
    q.put(events_batch(1, [(1, "click", "u", 1)]).SerializeToString())
    q.put(_field(2, 2, _field(1, 2, pb.BatchMeta(trace_id=2).SerializeToString()) + b"\x2a\x7f\x08"))
    t.join(10)
    assert out["error"] is not None and out["error"].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert out["error"].details().startswith("rules: the message after batch 1 is not a valid StageRequest")
    assert [r.ack for r in out["responses"] if r.WhichOneof("kind") == "ack"] == [1]
    ch.close()
