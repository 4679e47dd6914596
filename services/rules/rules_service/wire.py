"""The stage's messages on the wire, read and written without building protobuf objects where
that pays (services/PIPELINE.md; proto/pipeline/v1/pipeline.proto).

The gRPC handlers take and return raw bytes. Most messages are small and are parsed with the
protobuf library (upb) as before; the batches are the exception:

- in pass-through mode a batch is forwarded as the very bytes that arrived; only its trace id
  (and, for an events payload, its count) is read;
- otherwise the batch is walked field by field here, the numeric columns are viewed in place
  (memoryview slices of the received bytes, no copy), and the outgoing batch is assembled from
  the received wire bytes of everything the stage does not change (meta, dead letters,
  type_dict entries, the user_dict entries as one run of bytes) plus what it does (counters,
  count, the four columns after drops, tag_set_index, tag_sets). The user_dict entries are
  never turned into Python objects unless a rule tests `user`: upb parses the run once (for the
  number of entries and, when needed, the entries) and the bytes are spliced into the output.

Anything this fast path does not expect (fields out of the usual shape: a singular message
field twice, a user_dict run interleaved with other fields, unknown fields outside that run,
...) clears `BatchView.fast`; the caller then falls back to parsing the message with upb and
serialising it again, which handles every valid encoding. Both paths produce the same protobuf
message (for what every encoder writes, the same bytes); tests/test_wire.py compares them.
"""

from __future__ import annotations

from typing import Any, Sequence

from .pb import pb


class WireError(ValueError):
    """Bytes that are not a valid protobuf encoding (truncated, bad varint, bad wire type)."""


# -- varints ------------------------------------------------------------------------------------
_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(b: bytes, i: int, end: int) -> tuple[int, int]:
    """(value, index after it) of the varint at b[i]; raises WireError past `end`."""
    if i >= end:
        raise WireError("truncated varint")
    x = b[i]
    if x < 0x80:
        return x, i + 1
    result = x & 0x7F
    shift = 7
    i += 1
    while True:
        if i >= end:
            raise WireError("truncated varint")
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        if x < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, i
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def _len_field(b: bytes, i: int, end: int) -> tuple[int, int]:
    """For a length-delimited value at b[i]: (start, end) of its content."""
    n, i = read_varint(b, i, end)
    j = i + n
    if j > end:
        raise WireError("length-delimited field runs past its message")
    return i, j


def _skip(b: bytes, wtype: int, i: int, end: int) -> int:
    if wtype == 0:
        return read_varint(b, i, end)[1]
    if wtype == 2:
        return _len_field(b, i, end)[1]
    if wtype == 1:
        i += 8
    elif wtype == 5:
        i += 4
    else:
        raise WireError(f"unsupported wire type {wtype}")
    if i > end:
        raise WireError("fixed-width field runs past its message")
    return i


def only_field(b: bytes) -> tuple[int, int, int, int] | None:
    """When `b` is one length-delimited field and nothing else (how every implementation writes
    a message with a oneof set): (field number, content start, content end, wire type 2).
    Otherwise None (parse it with upb)."""
    end = len(b)
    try:
        tag, i = read_varint(b, 0, end)
        if tag & 7 != 2:
            return None
        s, e = _len_field(b, i, end)
    except WireError:
        return None
    if e != end:
        return None
    return tag >> 3, s, e, 2


def only_varint(b: bytes) -> tuple[int, int] | None:
    """When `b` is one varint field and nothing else: (field number, value); else None."""
    end = len(b)
    try:
        tag, i = read_varint(b, 0, end)
        if tag & 7 != 0:
            return None
        v, i = read_varint(b, i, end)
    except WireError:
        return None
    if i != end:
        return None
    return tag >> 3, v


# -- tags of the fields written here -------------------------------------------------------------
T_REQ_BATCH = b"\x12"  # StageRequest.batch = 2
T_RESP_ACK = b"\x08"  # StageResponse.ack = 1
T_BATCH_COUNTERS = b"\x12"  # Batch.counters = 2
T_BATCH_EVENTS = b"\x2a"  # Batch.events = 5
T_EV_COUNT = b"\x08"
T_EV_TS = b"\x12"
T_EV_VALUE = b"\x1a"
T_EV_TYPE_INDEX = b"\x22"
T_EV_USER_INDEX = b"\x32"
T_EV_TAG_SET_INDEX = b"\x42"
T_EV_TAG_SETS = b"\x4a"
T_TAGSET_PAIRS = b"\x0a"


def ack(trace_id: int) -> bytes:
    return T_RESP_ACK + varint(trace_id)


def _nbytes(x: Any) -> int:
    return memoryview(x).nbytes


def _bytes_field(tag: bytes, data: Any, out: list) -> int:
    """Appends a proto3 `bytes` field (nothing when empty); returns the bytes appended."""
    n = _nbytes(data)
    if n == 0:
        return 0
    v = varint(n)
    out.append(tag)
    out.append(v)
    out.append(data)
    return 1 + len(v) + n


def encode_tag_set(pairs: Sequence[bytes]) -> bytes:
    """One Events.tag_sets entry (tag, length and the TagSet), as upb writes it."""
    body = b"".join(T_TAGSET_PAIRS + varint(len(p)) + p for p in pairs)
    return T_EV_TAG_SETS + varint(len(body)) + body


# -- batches --------------------------------------------------------------------------------------
class BatchView:
    """One batch as received, walked without upb (see the module docstring).

    Built by scan_batch(); `fast` is False when the batch has a shape the splicing path does
    not handle, and the caller must use upb instead (trace_id is still read when possible)."""

    __slots__ = (
        "raw", "mv", "trace_id", "fast", "payload", "meta", "counters", "counter_values",
        "dead_letters", "events", "count", "ts", "value", "type_index", "user_index",
        "type_entries", "type_dict", "users_run", "n_users", "users_msg",
    )

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.mv = memoryview(raw)
        self.trace_id = 0
        self.fast = True
        self.payload: str | None = None  # "raw" | "events" | None
        self.meta: memoryview | None = None  # the whole field (tag, length, content)
        self.counters: tuple[int, int] | None = None  # content range
        self.counter_values = [0, 0, 0]  # lines, invalid, dropped
        self.dead_letters: list[memoryview] = []  # whole fields, in order
        self.events: tuple[int, int] | None = None  # content range
        self.count = 0
        self.ts: Any = b""
        self.value: Any = b""
        self.type_index: Any = b""
        self.user_index: Any = b""
        self.type_entries: list[memoryview] = []  # whole fields
        self.type_dict: list[bytes] = []
        self.users_run: Any = b""  # the user_dict entries, whole fields, one run
        self.n_users = 0
        self.users_msg: Any = None  # pb.Events holding only user_dict (parsed from users_run)


def _read_meta_trace(b: bytes, s: int, e: int) -> int:
    trace = 0
    i = s
    while i < e:
        tag, i = read_varint(b, i, e)
        if tag == 0x08:  # trace_id = 1, varint
            trace, i = read_varint(b, i, e)
        else:
            i = _skip(b, tag & 7, i, e)
    return trace


def scan_batch(raw: bytes, s: int, e: int, *, columns: bool) -> BatchView:
    """Walks the Batch at raw[s:e]. With columns=False only the trace id and the payload kind
    are read (pass-through). Raises WireError when the bytes are not a valid encoding."""
    v = BatchView(raw)
    b = raw
    mv = v.mv
    i = s
    while i < e:
        f0 = i
        tag, i = read_varint(b, i, e)
        field, wt = tag >> 3, tag & 7
        if wt != 2 or field > 5 or field == 0:
            i = _skip(b, wt, i, e)
            v.fast = False  # unknown field or unexpected wire type: upb knows what to do
            continue
        cs, ce = _len_field(b, i, e)
        i = ce
        if field == 1:
            if v.meta is not None:
                v.fast = False  # a second meta merges into the first
            v.meta = mv[f0:ce]
            v.trace_id = _read_meta_trace(b, cs, ce)
        elif field == 2:
            if v.counters is not None:
                v.fast = False
            v.counters = (cs, ce)
        elif field == 3:
            v.dead_letters.append(mv[f0:ce])
        elif field == 4:
            v.payload = "raw"
            v.events = None
        else:
            if v.events is not None:
                v.fast = False  # a second events merges into the first
            v.payload = "events"
            v.events = (cs, ce)
    if not columns or not v.fast:
        return v
    if v.counters is not None and not _scan_counters(v, b, *v.counters):
        v.fast = False
        return v
    if v.events is not None and not _scan_events(v, b, *v.events):
        v.fast = False
    return v


def _scan_counters(v: BatchView, b: bytes, s: int, e: int) -> bool:
    seen = 0
    i = s
    while i < e:
        tag, i = read_varint(b, i, e)
        field = tag >> 3
        if tag & 7 != 0 or not 1 <= field <= 3 or seen & (1 << field):
            return False
        seen |= 1 << field
        v.counter_values[field - 1], i = read_varint(b, i, e)
    return True


def _scan_events(v: BatchView, b: bytes, s: int, e: int) -> bool:
    mv = v.mv
    i = s
    while i < e:
        f0 = i
        tag, i = read_varint(b, i, e)
        field, wt = tag >> 3, tag & 7
        if field == 1:
            if wt != 0:
                return False
            count, i = read_varint(b, i, e)
            v.count = count & 0xFFFFFFFF  # uint32: what protobuf keeps of a longer varint
            continue
        if wt != 2 or field == 0 or field > 9:
            return False
        cs, ce = _len_field(b, i, e)
        i = ce
        if field == 2:
            v.ts = mv[cs:ce]
        elif field == 3:
            v.value = mv[cs:ce]
        elif field == 4:
            v.type_index = mv[cs:ce]
        elif field == 5:
            v.type_entries.append(mv[f0:ce])
            v.type_dict.append(b[cs:ce])
        elif field == 6:
            v.user_index = mv[cs:ce]
        elif field == 7:
            # The user_dict entries: thousands of them. They must be the last thing in the
            # message, one run (what every encoder writes, tag_set_index/tag_sets being empty
            # before the rules stage). upb parses the run once; nothing else may be in it.
            run = mv[f0:e]
            users = pb.Events.FromString(run)
            fields = users.ListFields()
            if len(fields) != 1 or fields[0][0].number != 7:
                return False  # other fields after (or among) the entries
            # (Unknown fields in the run would travel on with it, as upb keeps them too.)
            v.users_run = run
            v.users_msg = users
            v.n_users = len(users.user_dict)
            return True
        # 8, 9: tag_set_index / tag_sets from upstream: replaced by ours
    return True


def build_batch(
    v: BatchView,
    *,
    count: int,
    dropped: int,
    ts: Any,
    value: Any,
    type_index: Any,
    user_index: Any,
    tag_set_index: Any,
    tag_sets: Sequence[bytes],
) -> bytes:
    """The StageRequest carrying batch `v` with its events replaced by the given columns and
    encoded tag sets (each from encode_tag_set), and `dropped` added to counters.dropped."""
    ev: list = []
    n = 0
    if count:
        c = varint(count)
        ev.append(T_EV_COUNT)
        ev.append(c)
        n += 1 + len(c)
    n += _bytes_field(T_EV_TS, ts, ev)
    n += _bytes_field(T_EV_VALUE, value, ev)
    n += _bytes_field(T_EV_TYPE_INDEX, type_index, ev)
    for t in v.type_entries:
        ev.append(t)
        n += len(t)
    n += _bytes_field(T_EV_USER_INDEX, user_index, ev)
    if v.n_users:
        ev.append(v.users_run)
        n += len(v.users_run)
    n += _bytes_field(T_EV_TAG_SET_INDEX, tag_set_index, ev)
    for t in tag_sets:
        ev.append(t)
        n += len(t)

    out: list = [T_REQ_BATCH, b""]
    m = 0
    if v.meta is not None:
        out.append(v.meta)
        m += len(v.meta)
    if v.counters is not None or dropped:
        lines, invalid, old_dropped = v.counter_values
        cb = b"".join(
            (b"\x08" + varint(lines) if lines else b"",
             b"\x10" + varint(invalid) if invalid else b"",
             b"\x18" + varint(old_dropped + dropped) if old_dropped + dropped else b"")
        )
        piece = T_BATCH_COUNTERS + varint(len(cb)) + cb
        out.append(piece)
        m += len(piece)
    for d in v.dead_letters:
        out.append(d)
        m += len(d)
    ev_len = varint(n)
    out.append(T_BATCH_EVENTS)
    out.append(ev_len)
    m += 1 + len(ev_len) + n
    out[1] = varint(m)
    out.extend(ev)
    return b"".join(out)


def parse_request(raw: bytes) -> tuple[str | None, Any, int, int]:
    """(kind, message or None, content start, content end) of a StageRequest. For a single
    length-delimited field of a known kind nothing is parsed (message None, the range gives its
    content in `raw`); otherwise upb parses it and the message is returned (range 0, 0)."""
    one = only_field(raw)
    if one is not None:
        field, s, e, _ = one
        kind = _REQUEST_KINDS.get(field)
        if kind is not None:
            return kind, None, s, e
    msg = pb.StageRequest.FromString(raw)
    return msg.WhichOneof("kind"), msg, 0, 0


_REQUEST_KINDS = {1: "header", 2: "batch", 3: "result_part", 4: "end", 5: "barrier"}
