"""Checkpoints and recovery as the rules stage sees them (services/PIPELINE.md): barriers
forwarded in order without credit or ack, checkpoint_done passed upstream at once, a newer
attempt of a run ending the older stream, the crash point, and a killed downstream."""

import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from harness import FakeAggregate, FakeControl, Stream, barrier, end, events_batch, header, start_fake_aggregate, start_rules, wait_until
from rules_service.crash import CrashConfigError, CrashPoint, parse_crash_point
from rules_service.server import Config

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE_DIR = os.path.dirname(HERE)


def shape(msgs):
    """Each message as (kind, id): the trace id of a batch, the checkpoint of a barrier."""
    out = []
    for m in msgs:
        kind = m.WhichOneof("kind")
        if kind == "batch":
            out.append(("batch", m.batch.meta.trace_id))
        elif kind == "barrier":
            out.append(("barrier", m.barrier.checkpoint_id))
        else:
            out.append((kind, 0))
    return out


def batch(t):
    return events_batch(t, [(t, "click", "u", t), (t, "view", "u", 1)])


# -- barriers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("passthrough", [False, True])
def test_barriers_are_forwarded_unchanged_in_order_between_batches(chain, passthrough):
    open_stream, fake = chain
    s = open_stream()
    sent = [header(run_id="r-bar", passthrough=passthrough, attempt=1, checkpoint_dir="/tmp/ckpt"), barrier(1), batch(1), batch(2), barrier(2), batch(3), barrier(3), barrier(4), batch(4), end(4)]
    for m in sent:
        s.send(m)
    s.wait()
    assert s.error is None, s.error
    assert shape(fake.received) == shape(sent)
    got = {m.barrier.checkpoint_id: m.SerializeToString() for m in fake.received if m.WhichOneof("kind") == "barrier"}
    assert got == {m.barrier.checkpoint_id: m.SerializeToString() for m in sent if m.WhichOneof("kind") == "barrier"}
    assert s.acks() == [1, 2, 3, 4]  # one per batch, none for a barrier
    rules = [m for m in s.complete().stages if m.stage == "rules"][0]
    assert (rules.batches_in, rules.batches_out) == (4, 4)


@pytest.mark.parametrize("chain", [{"auto_ack": False}], indirect=True)
def test_a_barrier_takes_no_send_credit(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header())
    for t in range(1, 9):
        s.send(batch(t))
    s.send(barrier(1))  # the window is full: the barrier still goes, the batch after it waits
    s.send(batch(9))
    assert wait_until(lambda: ("barrier", 1) in shape(fake.received), timeout=5)
    time.sleep(0.3)
    assert shape(fake.received)[1:] == [("batch", t) for t in range(1, 9)] + [("barrier", 1)]
    fake.release(100)
    s.send(end(9))
    s.wait()
    assert s.error is None, s.error
    assert shape(fake.received)[-3:] == [("barrier", 1), ("batch", 9), ("end", 0)]
    assert s.acks() == list(range(1, 10))


@pytest.mark.parametrize("chain", [{"auto_ack": False, "checkpoint_done": True}], indirect=True)
def test_checkpoint_done_is_forwarded_upstream_at_once(chain):
    open_stream, fake = chain
    s = open_stream()
    s.send(header(checkpoint_dir="/tmp/ckpt", attempt=1))
    s.send(batch(1))
    s.send(barrier(1))
    # The downstream has acknowledged nothing: the reply does not wait for acks or more input.
    assert wait_until(lambda: s.checkpoints_done() == [1], timeout=5)
    s.send(batch(2))
    s.send(barrier(2))
    assert wait_until(lambda: s.checkpoints_done() == [1, 2], timeout=5)
    fake.release(2)
    s.send(end(2))
    s.wait()
    assert s.error is None, s.error
    kinds = [r.WhichOneof("kind") for r in s.responses]
    assert kinds.count("checkpoint_done") == 2 and kinds[-1] == "complete"


# -- attempts -----------------------------------------------------------------------------------
def test_a_new_attempt_of_a_run_ends_its_older_stream(chain):
    open_stream, fake = chain
    other = open_stream()  # another run: left alone
    other.send(header(run_id="r-other", attempt=1))
    other.send(batch(1))
    old = open_stream()
    old.send(header(run_id="r-att", attempt=1, checkpoint_dir="/tmp/ckpt"))
    old.send(batch(1))
    old.send(batch(2))
    assert wait_until(lambda: old.acks() == [1, 2] and other.acks() == [1], timeout=5)
    assert fake.streams == 2

    new = open_stream()
    new.send(header(run_id="r-att", attempt=2, resume_checkpoint=1, checkpoint_dir="/tmp/ckpt"))
    old.wait(5)  # the older stream is ended, upstream ...
    assert old.error is not None and old.error.code() == grpc.StatusCode.CANCELLED
    assert wait_until(lambda: fake.streams == 3, timeout=5)
    old_down = next(i for i, msgs in enumerate(fake.per_stream) if msgs and msgs[0].header.run_id == "r-att" and msgs[0].header.attempt == 1)
    assert fake.stream_ended[old_down].wait(5)  # ... and downstream
    old.send(batch(3))  # too late: nothing more goes anywhere from the older stream
    new.send(batch(2))
    new.send(batch(3))
    new.send(end(3))
    new.wait()
    assert new.error is None, new.error
    assert new.acks() == [2, 3]
    assert shape(fake.per_stream[old_down]) == [("header", 0), ("batch", 1), ("batch", 2)]
    new_down = [msgs for msgs in fake.per_stream if msgs and msgs[0].header.attempt == 2][0]
    assert shape(new_down) == [("header", 0), ("batch", 2), ("batch", 3), ("end", 0)]
    assert new_down[0].header.resume_checkpoint == 1  # the header, forwarded unchanged
    assert old.acks() == [1, 2] and old.checkpoints_done() == []

    other.send(end(1))  # the other run went on undisturbed
    other.wait()
    assert other.error is None and other.acks() == [1]


def test_the_run_start_log_line_names_the_attempt():
    lines = []

    class Capture:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

    fake = FakeAggregate()
    agg_server, agg_addr = start_fake_aggregate(fake)
    rules_server, rules_addr, servicer = start_rules(Config(downstream_address=agg_addr), log_stream=Capture())
    try:
        s = Stream(rules_addr)
        s.send(header(run_id="r-log", attempt=3, resume_checkpoint=7, checkpoint_dir="/tmp/ckpt"))
        s.send(end(0))
        s.wait()
        assert s.error is None
        import json

        started = [json.loads(x) for x in lines if '"run started' in x]
        assert len(started) == 1
        assert started[0]["attempt"] == 3 and started[0]["correlationId"] == "r-log" and "attempt 3" in started[0]["msg"]
        assert started[0]["resumeCheckpoint"] == 7 and started[0]["checkpointDir"] == "/tmp/ckpt"
        s.close()
    finally:
        rules_server.stop(0).wait()
        agg_server.stop(0).wait()


# -- crash point --------------------------------------------------------------------------------
def test_crash_point_parsing():
    assert parse_crash_point(None, None) is None
    assert parse_crash_point("", "/tmp/m") is None
    assert parse_crash_point("barrier:3", "/tmp/m") == CrashPoint("barrier", 3, "/tmp/m")
    bad = {
        ("barrier", "/m"): 'MR_CRASH_AT="barrier" is malformed: expected <point>:<N>, e.g. barrier:2',
        ("barrier:x", "/m"): 'MR_CRASH_AT="barrier:x" is malformed: expected <point>:<N>, e.g. barrier:2',
        ("barrier:-1", "/m"): 'MR_CRASH_AT="barrier:-1" is malformed: expected <point>:<N>, e.g. barrier:2',
        ("barrier:0", "/m"): 'MR_CRASH_AT="barrier:0": the checkpoint must be 1 or more (barriers count from 1)',
        ("saved:2", "/m"): 'MR_CRASH_AT="saved:2": "saved" is a crash point of aggregate and sink; the rules stage has only "barrier"',
        ("commit:2", "/m"): 'MR_CRASH_AT="commit:2": "commit" is a crash point of ingest; the rules stage has only "barrier"',
        ("end:0", "/m"): 'MR_CRASH_AT="end:0": "end" is a crash point of sink; the rules stage has only "barrier"',
        ("boom:1", "/m"): 'MR_CRASH_AT="boom:1": "boom" is not a crash point; the rules stage has only "barrier"',
        ("barrier:2", None): 'MR_CRASH_AT="barrier:2" needs MR_CRASH_MARKER=<file> (the crash happens once, while that file does not exist)',
        ("barrier:2", ""): 'MR_CRASH_AT="barrier:2" needs MR_CRASH_MARKER=<file> (the crash happens once, while that file does not exist)',
    }
    for (at, marker), message in bad.items():
        with pytest.raises(CrashConfigError) as e:
            parse_crash_point(at, marker)
        assert str(e.value) == message


def _rules_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MR_")}
    env.update(extra)
    return env


def test_a_bad_crash_point_stops_the_process_at_start_up():
    p = subprocess.run(
        [sys.executable, "-m", "rules_service", "--no-register"],
        cwd=SERVICE_DIR,
        env=_rules_env(MR_CRASH_AT="saved:1", MR_CRASH_MARKER="/tmp/never"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2
    assert 'MR_CRASH_AT="saved:1": "saved" is a crash point of aggregate and sink; the rules stage has only "barrier"' in p.stderr
    assert '"level":"error"' in p.stdout and "startup failed" in p.stdout


def _start_rules_process(env, downstream):
    p = subprocess.Popen(
        [sys.executable, "-m", "rules_service", "--no-register", "--downstream-address", downstream],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    import json

    line = json.loads(p.stdout.readline())
    assert line["msg"].startswith("serving"), line
    threading.Thread(target=p.stdout.read, daemon=True).start()  # keep draining the logs
    return p, f"127.0.0.1:{line['port']}"


def test_crash_at_barrier_kills_the_process_once(tmp_path):
    marker = tmp_path / "crashed"
    fake = FakeAggregate()
    agg_server, agg_addr = start_fake_aggregate(fake)
    env = _rules_env(MR_CRASH_AT="barrier:2", MR_CRASH_MARKER=str(marker))
    procs = []
    try:
        p, addr = _start_rules_process(env, agg_addr)
        procs.append(p)
        s = Stream(addr)
        for m in (header(run_id="r-crash", attempt=1), batch(1), barrier(1), batch(2)):
            s.send(m)
        before = [("header", 0), ("batch", 1), ("barrier", 1), ("batch", 2)]
        assert wait_until(lambda: shape(fake.received) == before, timeout=10)
        assert not marker.exists() and p.poll() is None
        s.send(barrier(2))
        s.send(batch(3))
        assert p.wait(10) == -signal.SIGKILL
        assert marker.exists()
        s.wait()
        assert s.error.code() == grpc.StatusCode.UNAVAILABLE
        time.sleep(0.1)
        assert shape(fake.received) == before  # died as barrier 2 arrived: nothing more went on
        s.close()

        # The marker exists now: the restarted process passes barrier 2.
        p, addr = _start_rules_process(env, agg_addr)
        procs.append(p)
        s = Stream(addr)
        for m in (header(run_id="r-crash", attempt=2, resume_checkpoint=1), batch(2), barrier(2), batch(3), end(3)):
            s.send(m)
        s.wait()
        assert s.error is None, s.error
        assert shape(fake.per_stream[-1]) == [("header", 0), ("batch", 2), ("barrier", 2), ("batch", 3), ("end", 0)]
        assert p.poll() is None
        s.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        agg_server.stop(0).wait()


# -- a killed downstream --------------------------------------------------------------------------
class AggregateProcess:
    """A FakeAggregate in a process of its own (tests/harness.py), to kill -9."""

    def __init__(self) -> None:
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "harness.py")], cwd=SERVICE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.address = f"127.0.0.1:{int(self.p.stdout.readline())}"

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def close(self) -> None:
        if self.p.poll() is None:
            self.kill()


def test_a_killed_downstream_fails_the_upstream_at_once_and_the_next_attempt_finds_its_successor():
    control = FakeControl()
    agg = AggregateProcess()
    control.instances["aggregate"] = agg.address
    rules_server, rules_addr, servicer = start_rules(Config(control_url=control.url, lookup_timeout_s=10))
    new_server = None
    try:
        s = Stream(rules_addr)
        s.send(header(run_id="r-kill", attempt=1, checkpoint_dir="/tmp/ckpt"))
        s.send(batch(1))
        s.send(barrier(1))
        assert wait_until(lambda: s.acks() == [1] and s.checkpoints_done() == [1], timeout=10)
        # No keep-alive or deadline is set, so only noticing the broken connection can end the
        # stream (the wait only keeps a broken implementation from hanging the suite).
        agg.kill()
        s.wait(30)
        assert s.error is not None, "the stream must fail when aggregate dies, not hang"
        assert s.error.code() == grpc.StatusCode.UNAVAILABLE
        assert s.error.details().startswith("rules: aggregate failed: "), s.error.details()
        s.close()

        # The next attempt: the dead instance is still registered for a moment, then its
        # successor (the supervisor's restart) registers at a new address.
        fake = FakeAggregate()
        new_server, new_addr = start_fake_aggregate(fake)
        lookups = control.methods().count("LookupService")
        timer = threading.Timer(0.3, lambda: control.instances.__setitem__("aggregate", new_addr))
        timer.start()
        s = Stream(rules_addr)
        s.send(header(run_id="r-kill", attempt=2, resume_checkpoint=1, checkpoint_dir="/tmp/ckpt"))
        s.send(batch(2))
        s.send(end(2))
        s.wait(30)
        assert s.error is None, s.error
        assert s.acks() == [2] and s.complete() is not None
        assert control.methods().count("LookupService") >= lookups + 2  # looked up again, and again
        s.close()
    finally:
        agg.close()
        rules_server.stop(0).wait()
        if new_server is not None:
            new_server.stop(0).wait()
        control.close()


def test_a_downstream_restarted_at_the_same_address_is_reached_at_once():
    agg = AggregateProcess()
    port = int(agg.address.rsplit(":", 1)[1])
    rules_server, rules_addr, servicer = start_rules(Config(downstream_address=agg.address, lookup_timeout_s=10))
    new_server = None
    try:
        s = Stream(rules_addr)
        s.send(header(run_id="r-same", attempt=1))
        s.send(batch(1))
        assert wait_until(lambda: s.acks() == [1], timeout=10)
        agg.kill()
        s.wait(10)
        assert s.error.code() == grpc.StatusCode.UNAVAILABLE
        s.close()

        fake = FakeAggregate()
        new_server, addr = start_fake_aggregate(fake, port=port)
        assert addr == agg.address
        t0 = time.monotonic()
        s = Stream(rules_addr)
        s.send(header(run_id="r-same", attempt=2))
        s.send(batch(1))
        s.send(end(1))
        s.wait(10)
        took = time.monotonic() - t0
        assert s.error is None, s.error
        assert took < 0.5, f"the next attempt took {took:.3f} s (reconnect backoff?)"
        s.close()
    finally:
        agg.close()
        rules_server.stop(0).wait()
        if new_server is not None:
            new_server.stop(0).wait()
