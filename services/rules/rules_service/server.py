"""RulesService.Process: one inbound stream per run, one outbound stream to the downstream
(aggregate), following services/PIPELINE.md.

Threads per run:
- the gRPC handler thread reads the RunHeader, ends an older attempt of the same run still
  streaming here, validates the rules, finds and opens the downstream, then only writes
  responses upstream (acks, checkpoint_done, RunComplete) from a queue;
- gRPC's thread that writes the downstream call's requests pulls them from _down_requests, so
  it is also the inbound thread: it reads batches, applies the rules, waits for a send credit
  (window of 8 batches sent and not yet acknowledged by the downstream), queues the ack for
  upstream and hands the result to gRPC; a Barrier goes on as it is, behind the batches before
  it, without a credit and without an ack. (A separate inbound thread handing each message to
  that thread through a queue cost one more thread wake-up per message: the stage's CPU per
  batch is mostly such wake-ups, see README "Cost".)
- a downstream thread reads the downstream's acks (freeing credits), its checkpoint_done
  (queued upstream at once) and its RunComplete.
So receiving and working overlap with acknowledging upstream and with the downstream's acks;
gRPC buffers what arrives meanwhile (HTTP/2 flow control).

numpy and the rules engine are imported on first use (or by the warm-up __main__ starts once it
serves), so a restarted process is serving and registered before they are loaded.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import socket
import threading
import time
from collections import OrderedDict
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generator, Iterator

import grpc

from . import wire
from .batch import BatchWorker, Malformed
from .crash import CrashPoint
from .log import Logger
from .pb import pb
from .topology import Activity, TopologyClient, TopologyError

if TYPE_CHECKING:
    from .engine import Engine

STAGE = "rules"
LANGUAGE = "python"
METHOD = "pipeline.v1.RulesService/Process"
SERVICE = "pipeline.v1.RulesService"
DOWNSTREAM_METHOD = "/pipeline.v1.AggregateService/Process"
WINDOW = 8
MAX_MESSAGE = 64 * 1024 * 1024
LOOKUP_TIMEOUT_S = 30.0
LOOKUP_RETRY_S = 0.1

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
CHANNEL_OPTIONS = GRPC_OPTIONS + [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Subchannels (connections) are shared between channels to the same address by default,
    # and so is their reconnect backoff: a run after a downstream died would inherit the dead
    # connection's backoff. Each run's channel gets its own, connecting at once.
    ("grpc.use_local_subchannel_pool", 1),
]


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _accepts_connections(address: str, timeout: float) -> bool:
    """Whether something listens at HOST:PORT (a plain TCP connect, closed at once)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class WindowClosed(Exception):
    pass


class CreditWindow:
    """At most `size` batches sent and not yet acknowledged; close() wakes every waiter."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_flight = 0
        self.closed = False
        self._cv = threading.Condition()

    def acquire(self) -> int:
        """Takes a credit; returns the nanoseconds it waited. Raises WindowClosed."""
        with self._cv:
            if self.closed:
                raise WindowClosed()
            if self.in_flight < self.size:
                self.in_flight += 1
                return 0
            t0 = time.perf_counter_ns()
            while self.in_flight >= self.size and not self.closed:
                self._cv.wait()
            if self.closed:
                raise WindowClosed()
            self.in_flight += 1
            return time.perf_counter_ns() - t0

    def release(self) -> None:
        with self._cv:
            if self.in_flight > 0:
                self.in_flight -= 1
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # cannot go on the wire: U+FFFD, as Node does


@dataclass
class Config:
    name: str = "rules"
    downstream: str = "aggregate"
    control_url: str = "http://127.0.0.1:3000"
    control_token: str | None = None
    downstream_address: str | None = None  # skips the lookup (tests)
    lookup_timeout_s: float = LOOKUP_TIMEOUT_S
    crash: CrashPoint | None = None  # MR_CRASH_AT / MR_CRASH_MARKER (tests)


class RulesServicer:
    def __init__(self, config: Config, log: Logger, activity: Activity | None = None) -> None:
        self.config = config
        self.log = log
        self.activity = activity or Activity()
        self.topology = TopologyClient(config.control_url, config.control_token)
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._runs: dict[str, _Run] = {}  # run id → the stream of its current attempt
        self._lock = threading.Lock()
        self._tag_set_wire: dict[tuple[bytes, ...], bytes] = {}  # tag set → its encoded entry

    def tag_set_wire(self, pairs: tuple[bytes, ...]) -> bytes:
        """The Events.tag_sets entry for a tag set (cached: the engine's sets are few)."""
        got = self._tag_set_wire.get(pairs)
        if got is None:
            got = wire.encode_tag_set(pairs)
            if len(self._tag_set_wire) < 65536:
                self._tag_set_wire[pairs] = got
        return got

    # -- shared state -----------------------------------------------------------------------
    def engine_for(self, rules_json: str) -> "Engine":
        """The engine for a rules text (cached); raises RulesError."""
        with self._lock:
            e = self._engines.get(rules_json)
            if e is not None:
                self._engines.move_to_end(rules_json)
                return e
        from .engine import Engine  # numpy: loaded on first use, not at start-up
        from .rules import parse_rules

        e = Engine(parse_rules(rules_json))
        with self._lock:
            self._engines[rules_json] = e
            while len(self._engines) > 16:
                self._engines.popitem(last=False)
        return e

    def warm_up(self) -> None:
        """Loads numpy and the engine and builds the default rules' engine, so the first run
        does not pay for them (started in the background once the server is serving)."""
        try:
            self.engine_for("")
        except Exception as e:  # noqa: BLE001 - the first run loads it again and reports
            self.log.warn(f"warm-up failed: {e!r}")

    def _claim(self, run_id: str, run: "_Run") -> "_Run | None":
        """Makes `run` the current stream of `run_id`; returns the one it replaces, if any."""
        with self._lock:
            old = self._runs.get(run_id)
            self._runs[run_id] = run
        return old

    def _release(self, run_id: str, run: "_Run") -> None:
        with self._lock:
            if self._runs.get(run_id) is run:
                del self._runs[run_id]

    def close(self) -> None:
        pass

    # -- the RPC ------------------------------------------------------------------------------
    def Process(self, request_iterator: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        """StageRequest bytes in, StageResponse bytes out (see wire.py)."""
        return _Run(self, request_iterator, context).serve()


class _Run:
    def __init__(self, svc: RulesServicer, requests: Iterator[Any], context: grpc.ServicerContext) -> None:
        self.svc = svc
        self.cfg = svc.config
        self.requests = requests
        self.context = context
        self.log = svc.log
        self.run_log = svc.log
        self.window = CreditWindow(WINDOW)
        self.up: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.first = b""  # the RunHeader as received: the downstream call's first request
        self.down_done = threading.Event()  # nothing more goes downstream (see _down_requests)
        self.call: Any = None
        self.channel: grpc.Channel | None = None
        self._channel_lock = threading.Lock()
        self.sent_at: dict[int, tuple[float, int]] = {}
        self.completed = False
        self.finished = threading.Event()
        # Set once nothing more may go downstream (the run was cancelled, failed or superseded);
        # with _state_lock it orders opening the downstream call against ending it.
        self.ended = False
        self._state_lock = threading.Lock()
        self.run_id = ""
        self.attempt = 0
        self.worker: BatchWorker | None = None
        self.superseded_by: int | None = None
        # StageMetrics
        self.busy_ns = 0
        self.wait_ns = 0
        self.batches_in = 0
        self.batches_out = 0
        self.events_in = 0
        self.events_out = 0
        self.dropped = 0
        self.barriers = 0
        self.cpu0 = cpu_seconds()
        self.t0 = time.monotonic()

    # -- helpers ----------------------------------------------------------------------------
    def _next(self) -> Any:
        t = time.perf_counter_ns()
        try:
            return next(self.requests)
        finally:
            self.wait_ns += time.perf_counter_ns() - t

    def _down_requests(self) -> Iterator[bytes]:
        """The downstream call's requests: the header, then what _inbound yields. grpc's thread
        that writes a call's requests pulls them from here, so reading the inbound stream and
        working on a batch run on that thread: no hand-off to another thread per message.
        Returning half-closes the call, which only End may do: after anything else (an error,
        the run cancelled or superseded) this waits until the call is cancelled or over."""
        if self.ended:
            return
        yield self.first
        ended_by_end = yield from self._inbound()
        if not ended_by_end:
            self.down_done.wait()

    def _stop_downstream(self) -> None:
        """Nothing more goes downstream: wakes the credit waiter and, unless the downstream
        already completed the run, cancels the call (cancel, not half-close: the downstream
        must not finish the run)."""
        with self._state_lock:
            if not self.completed:
                self.ended = True
            call = self.call
        self.window.close()
        if self.ended and call is not None:
            call.cancel()
        self.down_done.set()

    def _on_rpc_done(self) -> None:
        """The inbound RPC ended (normally, by error, or cancelled by the upstream)."""
        self.finished.set()
        self._stop_downstream()
        self.up.put(("cancelled",))
        self.svc._release(self.run_id, self)

    def supersede(self, attempt: int) -> None:
        """A newer attempt of this run arrived: ends this stream both ways, at once. The
        inbound RPC is cancelled first, so that its upstream sees CANCELLED rather than a
        stream that ended cleanly without RunComplete."""
        self.superseded_by = attempt
        self.context.cancel()  # runs _on_rpc_done: stops the downstream, wakes the handler
        self._stop_downstream()  # (and in case the callback is not registered yet)
        self.up.put(("cancelled",))

    def _abort(self, code: grpc.StatusCode, message: str) -> None:
        self.context.abort(code, _LONE_SURROGATE.sub("\ufffd", message))

    # -- downstream ---------------------------------------------------------------------------
    def _connect(self) -> str | None:
        """Finds the downstream's address and checks that it accepts connections; None when
        the upstream went away meanwhile. Aborts with UNAVAILABLE after lookup_timeout_s.
        Retrying also covers a registration that outlived its process (connection refused).
        Looked up afresh for every run: after a downstream died, the next attempt finds the
        instance that replaced it."""
        name = self.cfg.downstream
        deadline = time.monotonic() + self.cfg.lookup_timeout_s
        last_error = ""
        unreachable: str | None = None
        while True:
            if not self.context.is_active() or self.ended:
                return None
            address = self.cfg.downstream_address
            if address is None:
                try:
                    address = self.svc.topology.lookup(name, timeout=min(5.0, max(0.5, deadline - time.monotonic())))
                    last_error = ""
                except TopologyError as e:
                    last_error = str(e)
            if address:
                if _accepts_connections(address, timeout=max(0.1, min(1.0, deadline - time.monotonic()))):
                    return address
                unreachable = address
            if time.monotonic() >= deadline:
                if unreachable is not None:
                    self._abort(grpc.StatusCode.UNAVAILABLE, f"{STAGE}: downstream {name} at {unreachable} is not reachable")
                why = f" (topology lookup failed: {last_error})" if last_error else ""
                self._abort(grpc.StatusCode.UNAVAILABLE, f"{STAGE}: downstream {name} is not registered with the topology{why}")
            time.sleep(LOOKUP_RETRY_S)

    def _close_channel(self) -> None:
        with self._channel_lock:
            ch, self.channel = self.channel, None
        if ch is not None:
            ch.close()

    def _read_downstream(self) -> None:
        d = self.cfg.downstream
        try:
            for raw in self.call:
                one = wire.only_varint(raw)  # an ack or a checkpoint_done, without upb
                if one is not None and one[0] in (1, 3):
                    kind, n = ("ack" if one[0] == 1 else "checkpoint_done"), one[1]
                else:
                    res = pb.StageResponse.FromString(raw)
                    kind = res.WhichOneof("kind")
                    n = res.ack
                if kind == "ack":
                    sent = self.sent_at.pop(n, None)
                    if sent is not None:
                        self.svc.activity.record(d, METHOD, time.monotonic() - sent[0], sent[1])
                    self.window.release()
                elif kind == "checkpoint_done":
                    self.up.put(("forward", raw))  # unchanged, at once
                elif kind == "complete":
                    self.completed = True
                    self.up.put(("complete", raw))
                    for _ in self.call:  # let the downstream end its stream cleanly
                        pass
                    return
            self.up.put(("error", grpc.StatusCode.ABORTED, f"{STAGE}: {d} failed: its stream ended without RunComplete"))
        except grpc.RpcError as e:
            if self.completed or self.ended:
                return  # we cancelled it
            code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
            details = e.details() if callable(getattr(e, "details", None)) else str(e)
            self.svc.activity.record(d, METHOD, 0.0, 0, ok=False, error=details or "")
            self.up.put(("error", code, f"{STAGE}: {d} failed: {details}"))
        except Exception as e:  # noqa: BLE001
            self.up.put(("error", grpc.StatusCode.INTERNAL, f"{STAGE}: reading from {d} failed: {e!r}"))
        finally:
            self.window.close()
            self._close_channel()

    # -- inbound ------------------------------------------------------------------------------
    def _inbound(self) -> Generator[bytes, None, bool]:
        """Reads the inbound stream after the header and yields what goes downstream, in order:
        each batch's result once it has a send credit (its ack queued for upstream as it goes),
        each Barrier as it arrived (no credit, no ack), then End with our StageMetrics. Returns
        True after End; False once it stopped for an error (queued for the handler), a
        cancelled or broken upstream, or a closed window (the run is over)."""
        from .engine import BatchError  # loaded with the run's engine

        crash = self.cfg.crash
        parse_request = wire.parse_request
        worker = self.worker
        assert worker is not None
        try:
            while True:
                try:
                    raw = self._next()
                except StopIteration:
                    self.up.put(("error", grpc.StatusCode.ABORTED, f"{STAGE}: the stream ended before End"))
                    return False
                try:
                    kind, msg, s, e = parse_request(raw)
                except Exception as err:  # noqa: BLE001 - DecodeError
                    raise Malformed(f"{STAGE}: the message after batch {worker.trace} is not a valid StageRequest: {err}") from None
                if kind == "batch":
                    t = time.perf_counter_ns()
                    self.batches_in += 1
                    out, n_in, n_out = worker.work(raw, msg, s, e)
                    trace = worker.trace
                    self.events_in += n_in
                    self.dropped += n_in - n_out
                    self.busy_ns += time.perf_counter_ns() - t
                    self.wait_ns += self.window.acquire()
                    if self.ended:
                        return False
                    self.sent_at[trace] = (time.monotonic(), n_out)
                    self.batches_out += 1
                    self.events_out += n_out
                    self.up.put(("ack", trace))
                    yield out
                elif kind == "barrier":
                    if crash is not None:  # "barrier": it has arrived, nothing is done with it yet
                        if msg is None:
                            msg = worker.decode(raw)
                        why = crash.at_barrier(msg.barrier.checkpoint_id)
                        if why:
                            self.run_log.warn(why)
                    # Behind every batch before it (one call, in order); no credit, no ack.
                    if self.ended:
                        return False
                    self.barriers += 1
                    yield raw
                elif kind == "end":
                    if msg is None:
                        msg = worker.decode(raw)
                    end = msg.end
                    end.stages.add(
                        stage=STAGE,
                        language=LANGUAGE,
                        busy_ns=self.busy_ns,
                        wait_ns=self.wait_ns,
                        batches_in=self.batches_in,
                        batches_out=self.batches_out,
                        events_in=self.events_in,
                        events_out=self.events_out,
                        cpu_seconds=cpu_seconds() - self.cpu0,
                        peak_rss_bytes=peak_rss_bytes(),
                        pid=os.getpid(),
                    )
                    if self.ended:
                        return False
                    yield msg.SerializeToString()
                    return True  # half-close: nothing follows End
                elif kind == "header":
                    self.up.put(("error", grpc.StatusCode.FAILED_PRECONDITION, f"{STAGE}: a second RunHeader arrived after batch {worker.trace}"))
                    return False
                else:
                    what = "a ResultPart" if kind == "result_part" else "an empty message"
                    self.up.put(("error", grpc.StatusCode.INVALID_ARGUMENT, f"{STAGE}: unexpected {what} after batch {worker.trace}"))
                    return False
        except BatchError as e:
            self.up.put(("error", grpc.StatusCode.INVALID_ARGUMENT, f"{STAGE}: batch {worker.trace}: {e}"))
        except Malformed as e:
            self.up.put(("error", grpc.StatusCode.INVALID_ARGUMENT, str(e)))
        except WindowClosed:
            pass  # the downstream failed or the run ended: already reported
        except grpc.RpcError:
            self.up.put(("cancelled",))  # the upstream went away
        except Exception as e:  # noqa: BLE001
            if not self.finished.is_set():
                self.up.put(("error", grpc.StatusCode.INTERNAL, f"{STAGE}: batch {worker.trace}: internal error: {e!r}"))
        return False

    # -- the handler --------------------------------------------------------------------------
    def serve(self) -> Iterator[bytes]:
        try:
            first = self._next()
        except StopIteration:
            return
        except grpc.RpcError:
            return
        try:
            kind, msg, s, e = wire.parse_request(first)
            if kind == "header":
                header = msg.header if msg is not None else pb.RunHeader.FromString(memoryview(first)[s:e])
        except Exception as err:  # noqa: BLE001 - DecodeError
            self._abort(grpc.StatusCode.INVALID_ARGUMENT, f"{STAGE}: the first message is not a valid StageRequest: {err}")
        if kind != "header":
            self._abort(grpc.StatusCode.FAILED_PRECONDITION, f"{STAGE}: the first message must be a RunHeader, got {kind or 'an empty message'}")
        self.run_id, self.attempt = header.run_id, header.attempt
        self.run_log = self.log.child(header.run_id)
        # An earlier attempt of this run still streaming here (its upstream has not broken yet)
        # ends before this one does anything: it sends nothing more either way.
        older = self.svc._claim(header.run_id, self)
        if older is not None:
            older.supersede(header.attempt)
        try:
            if not self.context.add_callback(self._on_rpc_done):
                self._on_rpc_done()  # already over
            yield from self._serve(first, header)
        finally:
            self.svc._release(header.run_id, self)

    def _serve(self, first: bytes, header: Any) -> Iterator[bytes]:
        from .rules import RulesError  # loaded by engine_for anyway

        log = self.run_log
        self.passthrough = header.passthrough
        try:
            self.worker = BatchWorker(self.svc.engine_for(header.rules_json), self.passthrough, self.svc.tag_set_wire)
        except RulesError as e:
            log.warn(f"run refused: rules: {e}")
            self._abort(grpc.StatusCode.INVALID_ARGUMENT, f"{STAGE}: {e}")
        log.info(
            f"run started (attempt {header.attempt}): forwarding to {self.cfg.downstream}" + (" (pass-through)" if self.passthrough else ""),
            attempt=header.attempt,
            resumeCheckpoint=header.resume_checkpoint or None,
            checkpointDir=header.checkpoint_dir or None,
            inputPath=header.input_path or None,
        )
        address = self._connect()
        if address is None:
            log.info(self._gone("while looking up the downstream"))
            return
        # One channel per run: a fresh connection to whatever the lookup found, closed with the run.
        channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        with self._state_lock:
            opened = not self.ended
            if opened:
                self.channel = channel
                self.first = first  # the header goes on unchanged (the bytes as received)
                # Raw bytes both ways: requests are built by BatchWorker, responses read with wire.
                # grpc's request thread runs _down_requests: from here on it reads the inbound
                # stream and works on the batches.
                self.call = channel.stream_stream(DOWNSTREAM_METHOD, request_serializer=None, response_deserializer=None)(
                    self._down_requests()
                )
        if not opened:  # cancelled or superseded while we looked the downstream up
            channel.close()
            log.info(self._gone("before the downstream was opened"))
            return
        threading.Thread(target=self._read_downstream, name="rules-downstream", daemon=True).start()
        outcome = "cancelled by the upstream"
        try:
            while True:
                item = self.up.get()
                tag = item[0]
                if tag == "ack":
                    yield wire.ack(item[1])
                elif tag == "forward":
                    yield item[1]
                elif tag == "complete":
                    outcome = "finished"
                    yield item[1]
                    return
                elif tag == "error":
                    outcome = f"failed: {item[2]}"
                    self._stop_downstream()
                    self._abort(item[1], item[2])
                else:  # cancelled
                    return
        finally:
            self.window.close()
            if not self.completed:
                self._stop_downstream()  # cancels the call before _down_requests may end
                self._close_channel()
            else:  # the downstream reader closes it when the stream ends; never later than this
                t = threading.Timer(5.0, self._close_channel)
                t.daemon = True
                t.start()
            self.down_done.set()  # (whatever happened: _down_requests never waits beyond the run)
            if self.superseded_by is not None:
                outcome = f"ended by attempt {self.superseded_by}"
            log.info(
                f"run {outcome} (attempt {self.attempt}): {self.batches_in} batches, {self.events_in} events in, "
                f"{self.dropped} dropped, {self.events_out} out, {self.barriers} barriers in {time.monotonic() - self.t0:.3f} s",
                attempt=self.attempt,
                busyNs=self.busy_ns,
                waitNs=self.wait_ns,
            )

    def _gone(self, when: str) -> str:
        if self.superseded_by is not None:
            return f"run (attempt {self.attempt}) ended by attempt {self.superseded_by} {when}"
        return f"run (attempt {self.attempt}) cancelled by the upstream {when}"


def make_server(servicer: RulesServicer, host: str, port: int, max_workers: int = 32) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rules-rpc"), options=GRPC_OPTIONS)
    # No (de)serializers: Process takes and returns the messages' bytes (wire.py).
    handlers = {"Process": grpc.stream_stream_rpc_method_handler(servicer.Process)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
    bound = server.add_insecure_port(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    return server, bound
