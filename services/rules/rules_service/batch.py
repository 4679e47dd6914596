"""The stage's work on one batch, from the bytes that arrived to the bytes that go on
(services/PIPELINE.md "Stage work": rules). wire.py reads and writes the messages; engine.py
applies the rules."""

from __future__ import annotations

from typing import Any, Callable

from . import wire
from .pb import pb

STAGE = "rules"


class Malformed(Exception):
    """A message that is not a valid encoding (its str is the whole error message)."""


class BatchWorker:
    """Works on the batches of one run: `engine` applies the rules (unless `passthrough`),
    `tag_set_wire` encodes a tag set as its Events.tag_sets entry (cached by the caller).
    `trace` is the trace id of the latest batch, for error messages."""

    def __init__(self, engine: Any, passthrough: bool, tag_set_wire: Callable[[tuple[bytes, ...]], bytes]) -> None:
        self.engine = engine
        self.passthrough = passthrough
        self.tag_set_wire = tag_set_wire
        self.trace = 0

    def work(self, raw: bytes, msg: Any, s: int, e: int) -> tuple[bytes, int, int]:
        """Works on the batch that arrived as `raw` (its content at raw[s:e], or parsed into
        `msg` by upb when it came in an unusual shape); returns (the StageRequest to send on,
        events in, events out). Sets self.trace as soon as the trace id is known."""
        from .engine import BatchError

        v = None
        if msg is None:
            try:
                v = wire.scan_batch(raw, s, e, columns=not self.passthrough)
            except wire.WireError:
                v = None  # upb below says what is wrong
        if v is None or not v.fast:
            if msg is None:
                msg = self.decode(raw)
            self.trace = msg.batch.meta.trace_id
            if self.passthrough:  # forwarded unchanged, whatever it carries
                n = msg.batch.events.count if msg.batch.WhichOneof("payload") == "events" else 0
                return raw, n, n
            return self.work_upb(raw, msg)
        self.trace = v.trace_id
        if self.passthrough:  # forwarded unchanged, as received
            n = 0
            if v.payload == "events":
                n = self._decode_events(v.mv[v.events[0] : v.events[1]]).count
            return raw, n, n
        if v.payload is None:
            return raw, 0, 0
        if v.payload != "events":
            raise BatchError("expected events, got raw lines")
        n = v.count
        res = self.engine.apply_buffers(
            n, v.ts, v.value, v.type_index, v.type_dict, v.user_index, v.users_msg.user_dict if v.n_users else ()
        )
        tag_set_wire = self.tag_set_wire
        out = wire.build_batch(
            v,
            count=res.count,
            dropped=res.dropped,
            ts=res.ts_seconds,
            value=res.value,
            type_index=res.type_index,
            user_index=res.user_index,
            tag_set_index=res.tag_set_index,
            tag_sets=[tag_set_wire(p) for p in res.tag_sets],
        )
        return out, n, res.count

    def work_upb(self, raw: bytes, msg: Any) -> tuple[bytes, int, int]:
        """work() for a batch parsed by upb: changed in place and serialised again."""
        batch = msg.batch
        kind = batch.WhichOneof("payload")
        if kind is None:
            return raw, 0, 0
        if kind != "events":
            from .engine import BatchError

            raise BatchError("expected events, got raw lines")
        ev = batch.events
        n = ev.count
        res = self.engine.apply(n, ev.ts_seconds, ev.value, ev.type_index, ev.type_dict, ev.user_index, ev.user_dict)
        if res.dropped:
            ev.count = res.count
            ev.ts_seconds = res.ts_seconds
            ev.value = res.value
            ev.type_index = res.type_index
            ev.user_index = res.user_index
            batch.counters.dropped += res.dropped
        ev.tag_set_index = res.tag_set_index
        del ev.tag_sets[:]
        for pairs in res.tag_sets:
            ev.tag_sets.add().pairs.extend(pairs)
        return msg.SerializeToString(), n, res.count

    def decode(self, raw: Any) -> Any:
        try:
            return pb.StageRequest.FromString(raw)
        except Exception as e:  # noqa: BLE001 - DecodeError
            raise Malformed(f"{STAGE}: the message after batch {self.trace} is not a valid StageRequest: {e}") from None

    def _decode_events(self, raw: Any) -> Any:
        try:
            return pb.Events.FromString(raw)
        except Exception as e:  # noqa: BLE001 - DecodeError
            raise Malformed(f"{STAGE}: batch {self.trace}: the events are not a valid Events message: {e}") from None
