"""Measures the rules stage's per-batch cost.

    python -m rules_service.bench [--events 10000] [--batches 300] [--users 1000] [--rules FILE]
    python -m rules_service.bench --grpc [--batches 2000] ...

Reports events/s for (1) Engine.apply alone, (2) decode the StageRequest with upb, apply, rewrite
the batch in place, encode it again (the stage's fallback for unusual encodings), and (3) what
the stage does with a batch's bytes (wire.py: walk, view the columns, apply, splice the output).
With --grpc: starts the stage as its own process (python -m rules_service --no-register
--downstream-address …), streams header + batches + End through it over gRPC from this process,
into a minimal downstream here that acks every batch and answers End; reports the stage's
events/s end to end (window 8, as in the pipeline); --passthrough makes it a pass-through run;
--pace MS sends a batch every MS milliseconds at most (as parse does in the pipeline, where the
stage is not the bottleneck and every batch arrives at an idle process). Also reports the stage process's CPU (user + system from /proc, all its
threads) per batch over the run: the number that matters on a machine where CPU is the limit.
Default rules unless --rules is given.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .engine import Engine
from .pb import pb
from .rules import parse_rules

TYPES = [b"view", b"click", b"purchase", b"signup", b"logout", b"search"]


def make_batch(rng: np.random.Generator, trace: int, n: int, users: int) -> bytes:
    ti = rng.integers(0, len(TYPES), n, dtype=np.uint32)
    user_ids = rng.integers(0, users * 10, n)
    uniq, ui = np.unique(user_ids, return_inverse=True)
    ev = pb.Events(
        count=n,
        ts_seconds=(1_767_225_600 + np.sort(rng.integers(0, 3600, n))).astype("<i8").tobytes(),
        value=rng.integers(-50, 500, n, dtype=np.int32).astype("<i4").tobytes(),
        type_index=ti.astype("<u4").tobytes(),
        type_dict=TYPES,
        user_index=ui.astype("<u4").tobytes(),
        user_dict=[f"user-{u}".encode() for u in uniq],
    )
    req = pb.StageRequest(batch=pb.Batch(meta=pb.BatchMeta(trace_id=trace), counters=pb.BatchCounters(lines=n), events=ev))
    return req.SerializeToString()


def bench_grpc(a: argparse.Namespace, rules_json: str) -> None:
    import os
    import queue
    import subprocess
    import sys
    import threading
    from concurrent import futures

    import grpc

    from .server import GRPC_OPTIONS

    def process_cpu(pid: int) -> float:
        """User + system seconds of process `pid` (all its threads, also those that ended)."""
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    rng = np.random.default_rng(1)
    distinct = [pb.StageRequest.FromString(make_batch(rng, 1, a.events, a.users)) for _ in range(20)]
    wire = []
    for i in range(a.batches):
        m = distinct[i % len(distinct)]
        m.batch.meta.trace_id = i + 1
        wire.append(m.SerializeToString())

    # The downstream: raw bytes in, acks out. Message kind by its first byte (field tag).
    done = threading.Event()
    seen = {"batches": 0, "bytes": 0}

    def process(request_iterator, context):
        n = 0
        for raw in request_iterator:
            tag = raw[0]
            if tag == 0x12:  # batch
                n += 1
                seen["bytes"] += len(raw)
                yield pb.StageResponse(ack=n).SerializeToString()
            elif tag == 0x22:  # end
                seen["batches"] = n
                end = pb.StageRequest.FromString(raw).end
                yield pb.StageResponse(complete=pb.RunComplete(run_id="bench", stages=list(end.stages))).SerializeToString()
                done.set()
                return

    handler = grpc.method_handlers_generic_handler(
        "pipeline.v1.AggregateService", {"Process": grpc.stream_stream_rpc_method_handler(process)}
    )
    down = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=GRPC_OPTIONS)
    down.add_generic_rpc_handlers((handler,))
    down_port = down.add_insecure_port("127.0.0.1:0")
    down.start()

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rules_service", "--no-register", "--downstream-address", f"127.0.0.1:{down_port}"],
        cwd=here, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        port = int(__import__("json").loads(line)["port"])
        ch = grpc.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
        grpc.channel_ready_future(ch).result(timeout=10)
        time.sleep(1.5)  # the stage's warm-up (numpy, the engine) is not part of a run's cost
        call_fn = ch.stream_stream("/pipeline.v1.RulesService/Process", request_serializer=None, response_deserializer=pb.StageResponse.FromString)
        q: queue.SimpleQueue = queue.SimpleQueue()
        credits = threading.Semaphore(8)

        def requests():
            while True:
                item = q.get()
                if item is None:
                    return
                yield item

        header = pb.StageRequest(header=pb.RunHeader(run_id="bench", rules_json=rules_json, passthrough=a.passthrough)).SerializeToString()
        cpu0 = process_cpu(proc.pid)
        t0 = time.perf_counter()
        call = call_fn(requests())
        q.put(header)

        def feed():
            due = time.perf_counter()
            for w in wire:
                if a.pace:
                    due += a.pace / 1000
                    time.sleep(max(0.0, due - time.perf_counter()))
                credits.acquire()
                q.put(w)
            q.put(pb.StageRequest(end=pb.End(batches=len(wire))).SerializeToString())
            q.put(None)

        threading.Thread(target=feed, daemon=True).start()
        complete = None
        for res in call:
            if res.WhichOneof("kind") == "ack":
                credits.release()
            else:
                complete = res.complete
        t = time.perf_counter() - t0
        time.sleep(0.2)  # the stage's threads finish the run (what it costs belongs to it)
        cpu = process_cpu(proc.pid) - cpu0
        m = [s for s in complete.stages if s.stage == "rules"][0]
        print(
            f"grpc end to end: {a.events * a.batches / t / 1e6:.2f} M events/s in ({a.batches} batches of {a.events} in {t:.2f} s); "
            f"stage busy {m.busy_ns / 1e6 / a.batches:.3f} ms/batch, wait {m.wait_ns / 1e9:.2f} s, "
            f"cpu {m.cpu_seconds:.2f} s ({m.cpu_seconds / t * 100:.0f}% of a core), events out {m.events_out}, "
            f"{seen['bytes'] / a.batches / 1024:.0f} KiB/batch out"
        )
        print(f"stage process cpu {cpu:.2f} s over the run: {cpu / a.batches * 1e3:.3f} ms/batch")
        ch.close()
    finally:
        proc.terminate()
        proc.wait(10)
        down.stop(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--rules", default=None, help="a rules JSON file (default: the default rules)")
    ap.add_argument("--grpc", action="store_true", help="measure the stage process end to end over gRPC")
    ap.add_argument("--passthrough", action="store_true", help="with --grpc: a pass-through run (batches forwarded unchanged)")
    ap.add_argument("--pace", type=float, default=0.0, help="with --grpc: send a batch every PACE ms at most (0: as fast as credits allow)")
    a = ap.parse_args()
    rules_json = open(a.rules, encoding="utf-8").read() if a.rules else ""
    if a.grpc:
        bench_grpc(a, rules_json)
        return
    rules = parse_rules(rules_json)
    engine = Engine(rules)
    rng = np.random.default_rng(1)
    wire = [make_batch(rng, i + 1, a.events, a.users) for i in range(min(a.batches, 50))]
    msgs = [pb.StageRequest.FromString(w) for w in wire]

    def apply_only(m) -> None:
        ev = m.batch.events
        engine.apply(ev.count, ev.ts_seconds, ev.value, ev.type_index, ev.type_dict, ev.user_index, ev.user_dict)

    def whole(w: bytes) -> int:
        m = pb.StageRequest.FromString(w)
        b = m.batch
        ev = b.events
        res = engine.apply(ev.count, ev.ts_seconds, ev.value, ev.type_index, ev.type_dict, ev.user_index, ev.user_dict)
        if res.dropped:
            ev.count = res.count
            ev.ts_seconds, ev.value, ev.type_index, ev.user_index = res.ts_seconds, res.value, res.type_index, res.user_index
            b.counters.dropped += res.dropped
        ev.tag_set_index = res.tag_set_index
        del ev.tag_sets[:]
        for pairs in res.tag_sets:
            ev.tag_sets.add().pairs.extend(pairs)
        return len(m.SerializeToString())

    from .batch import BatchWorker
    from .wire import encode_tag_set, parse_request

    worker = BatchWorker(engine, False, encode_tag_set)

    def stage(w: bytes) -> int:  # what the stage does with a batch's bytes (wire.py)
        kind, msg, s, e = parse_request(w)
        return len(worker.work(w, msg, s, e)[0])

    for label, fn, items in (("apply only", apply_only, msgs), ("upb decode+apply+encode", whole, wire), ("stage (wire.py)", stage, wire)):
        for i in range(10):  # warm-up
            fn(items[i % len(items)])
        times = []
        for i in range(a.batches):
            t0 = time.perf_counter()
            fn(items[i % len(items)])
            times.append(time.perf_counter() - t0)
        t = np.array(times)
        total = a.events * a.batches
        print(
            f"{label:>24}: {total / t.sum() / 1e6:6.2f} M events/s   per batch of {a.events}: "
            f"mean {t.mean() * 1e3:.3f} ms, p50 {np.median(t) * 1e3:.3f} ms, p99 {np.percentile(t, 99) * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
