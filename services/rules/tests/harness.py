"""In-process gRPC pieces for the tests: a fake downstream AggregateService, the rules server,
and a client stream driven from a queue.

    python tests/harness.py    # a FakeAggregate in its own process (to be kill -9'd); prints its port
"""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np

from rules_service.log import Logger
from rules_service.pb import pb, pb_grpc
from rules_service.server import GRPC_OPTIONS, Config, RulesServicer, make_server

# How long a stream whose requests ended without End must stay active to count as half-closed
# rather than cancelled (a cancel ends the call within milliseconds).
HALF_CLOSE_GRACE_S = 2.0


class FakeAggregate(pb_grpc.AggregateServiceServicer):
    """Records every message; acks each batch (at once, or when release() allows); answers End
    with RunComplete; can be told to fail the stream; with checkpoint_done, answers each Barrier
    with checkpoint_done (as aggregate does once the sink has saved)."""

    def __init__(self, auto_ack: bool = True, fail_after: int | None = None, checkpoint_done: bool = False) -> None:
        self.auto_ack = auto_ack
        self.fail_after = fail_after
        self.checkpoint_done = checkpoint_done
        self.received: list = []
        self.per_stream: list[list] = []  # the messages of each stream, in the order streams began
        self.stream_ended: list[threading.Event] = []  # per stream: its request stream ended
        self.streams = 0
        self.batches_seen = 0
        self.max_unacked = 0
        self._credits = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.cancelled = threading.Event()  # the stream ended (cancelled or closed) before End
        # A stream's requests ended before End while the call was still active: the client
        # half-closed it (what only End may be followed by) instead of cancelling it.
        self.half_closed = threading.Event()
        self.ended_cleanly = False

    def release(self, n: int) -> None:
        for _ in range(n):
            self._credits.release()

    def Process(self, request_iterator, context):
        with self.lock:
            self.streams += 1
            mine_all: list = []
            self.per_stream.append(mine_all)
            ended = threading.Event()
            self.stream_ended.append(ended)
        out: queue.SimpleQueue = queue.SimpleQueue()
        unacked = []
        # Set when the RPC terminates: a cancel by the client ends it at once; after a
        # half-close it stays active until this handler answers.
        terminated = threading.Event()
        if not context.add_callback(terminated.set):
            terminated.set()

        def reader():
            try:
                mine = []
                for req in request_iterator:
                    mine.append(req)
                    with self.lock:
                        self.received.append(req)
                        mine_all.append(req)
                    kind = req.WhichOneof("kind")
                    if kind == "barrier" and self.checkpoint_done:
                        out.put(("checkpoint_done", req.barrier.checkpoint_id))
                    if kind == "batch":
                        with self.lock:
                            self.batches_seen += 1
                            unacked.append(req.batch.meta.trace_id)
                            self.max_unacked = max(self.max_unacked, len(unacked))
                            seen = self.batches_seen
                        if self.fail_after is not None and seen >= self.fail_after:
                            out.put(("fail",))
                            return
                        if self.auto_ack:
                            with self.lock:
                                t = unacked.pop(0)
                            out.put(("ack", t))
                    elif kind == "end":
                        batches = [r.batch for r in mine if r.WhichOneof("kind") == "batch"]
                        out.put(
                            (
                                "complete",
                                pb.RunComplete(
                                    run_id=mine[0].header.run_id,
                                    dropped=sum(b.counters.dropped for b in batches),
                                    batches=len(batches),
                                    stages=list(req.end.stages),
                                ),
                            )
                        )
                        return
                # Ended without End. A cancelled stream can also look like this on the
                # server side of grpcio (its pending read completes empty, and for a moment the
                # context still reads active): only a call that stays active was half-closed.
                self.ended_cleanly = True
                if not terminated.wait(HALF_CLOSE_GRACE_S):
                    self.half_closed.set()
                self.cancelled.set()
                out.put(("eof",))
            except Exception:  # noqa: BLE001 - the request stream broke: cancelled
                self.cancelled.set()
                out.put(("eof",))
            finally:
                ended.set()

        def acker():
            while context.is_active():
                if not self._credits.acquire(timeout=0.05):
                    continue
                with self.lock:
                    if not unacked:
                        self._credits.release()
                        t = None
                    else:
                        t = unacked.pop(0)
                if t is None:
                    time.sleep(0.01)
                    continue
                out.put(("ack", t))

        threading.Thread(target=reader, daemon=True).start()
        if not self.auto_ack:
            threading.Thread(target=acker, daemon=True).start()
        while True:
            item = out.get()
            if item[0] == "ack":
                yield pb.StageResponse(ack=item[1])
            elif item[0] == "checkpoint_done":
                yield pb.StageResponse(checkpoint_done=item[1])
            elif item[0] == "complete":
                yield pb.StageResponse(complete=item[1])
                return
            elif item[0] == "fail":
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "aggregate: out of partitions")
            else:
                return


def start_fake_aggregate(fake: FakeAggregate, port: int = 0) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=GRPC_OPTIONS)
    pb_grpc.add_AggregateServiceServicer_to_server(fake, server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, f"127.0.0.1:{port}"


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


class NullStream:
    def write(self, _s: str) -> None:
        pass

    def flush(self) -> None:
        pass


def start_rules(config: Config, log_stream=None) -> tuple[grpc.Server, str, RulesServicer]:
    servicer = RulesServicer(config, Logger("rules", stream=log_stream or NullStream()))
    server, port = make_server(servicer, "127.0.0.1", 0)
    server.start()
    return server, f"127.0.0.1:{port}", servicer


class Stream:
    """A RulesService.Process call fed from a queue."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.call = pb_grpc.RulesServiceStub(self.channel).Process(self._requests())
        self.responses: list = []
        self.error: grpc.RpcError | None = None
        self.done = threading.Event()
        self.acked = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            yield item

    def _read(self):
        try:
            for r in self.call:
                with self.acked:
                    self.responses.append(r)
                    self.acked.notify_all()
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.done.set()
            with self.acked:
                self.acked.notify_all()

    def send(self, msg) -> None:
        self.q.put(msg)

    def close_send(self) -> None:
        self.q.put(None)

    def wait(self, timeout: float = 10.0) -> None:
        assert self.done.wait(timeout), "stream did not finish"

    def acks(self) -> list[int]:
        with self.acked:
            return [r.ack for r in self.responses if r.WhichOneof("kind") == "ack"]

    def checkpoints_done(self) -> list[int]:
        with self.acked:
            return [r.checkpoint_done for r in self.responses if r.WhichOneof("kind") == "checkpoint_done"]

    def complete(self):
        done = [r.complete for r in self.responses if r.WhichOneof("kind") == "complete"]
        return done[0] if done else None

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def header(rules_json: str = "", run_id: str = "run-1", passthrough: bool = False, attempt: int = 0, resume_checkpoint: int = 0, checkpoint_dir: str = ""):
    return pb.StageRequest(
        header=pb.RunHeader(
            run_id=run_id,
            rules_json=rules_json,
            passthrough=passthrough,
            out_dir="/tmp/x",
            batch_size=10000,
            attempt=attempt,
            resume_checkpoint=resume_checkpoint,
            checkpoint_dir=checkpoint_dir,
        )
    )


def barrier(n: int):
    return pb.StageRequest(barrier=pb.Barrier(checkpoint_id=n))


def events_batch(trace: int, events, dead_letters=(), lines: int | None = None):
    """events: list of (ts, type, user, value)."""
    types, users = {}, {}
    ti = [types.setdefault(t.encode(), len(types)) for _, t, _, _ in events]
    ui = [users.setdefault(u.encode(), len(users)) for _, _, u, _ in events]
    ev = pb.Events(
        count=len(events),
        ts_seconds=np.array([e[0] for e in events], "<i8").tobytes(),
        value=np.array([e[3] for e in events], "<i4").tobytes(),
        type_index=np.array(ti, "<u4").tobytes(),
        type_dict=list(types),
        user_index=np.array(ui, "<u4").tobytes(),
        user_dict=list(users),
    )
    return pb.StageRequest(
        batch=pb.Batch(
            meta=pb.BatchMeta(trace_id=trace, ingest_unix_ns=123, first_line=trace * 10, last_line=trace * 10 + 9),
            counters=pb.BatchCounters(lines=lines if lines is not None else len(events) + len(dead_letters), invalid=len(dead_letters), dropped=0),
            dead_letters=list(dead_letters),
            events=ev,
        )
    )


def end(batches: int):
    return pb.StageRequest(end=pb.End(batches=batches, physical_lines=100, input_bytes=1000, stages=[pb.StageMetrics(stage="parse", language="rust")]))


def decode(batch):
    """-> (events as (ts, type, user, value), tags as list of lists of bytes)"""
    ev = batch.events
    ts = np.frombuffer(ev.ts_seconds, "<i8").tolist()
    v = np.frombuffer(ev.value, "<i4").tolist()
    ti = np.frombuffer(ev.type_index, "<u4").tolist()
    ui = np.frombuffer(ev.user_index, "<u4").tolist()
    tsi = np.frombuffer(ev.tag_set_index, "<u4").tolist()
    assert len(ts) == len(v) == len(ti) == len(ui) == len(tsi) == ev.count
    events = [(ts[i], ev.type_dict[ti[i]].decode(), ev.user_dict[ui[i]].decode(), v[i]) for i in range(ev.count)]
    return events, [list(ev.tag_sets[j].pairs) for j in tsi]



class FakeControl:
    """A Connect-JSON TopologyService on HTTP/1.1 that records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []
        self.instances: dict[str, str] = {}
        self.refuse_beats = False
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                method = self.path.rsplit("/", 1)[-1]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.calls.append((method, body, dict(self.headers)))
                status, reply = 200, {}
                if method == "RegisterService":
                    reply = {"instanceId": f"id-{len(outer.calls)}", "heartbeatIntervalMs": 100}
                elif method == "LookupService":
                    addr = outer.instances.get(body["name"])
                    reply = {"instances": [{"address": addr}]} if addr else {}
                elif method == "SendHeartbeat" and outer.refuse_beats:
                    status, reply = 404, {"code": "not_found", "message": "instance is dead"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def methods(self):
        return [c[0] for c in self.calls]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    # A FakeAggregate (checkpoint_done on) in its own process, for tests that kill it with
    # SIGKILL; prints its port on the first line, then serves until killed.
    import sys

    _server, _addr = start_fake_aggregate(FakeAggregate(checkpoint_done=True))
    print(_addr.rsplit(":", 1)[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
