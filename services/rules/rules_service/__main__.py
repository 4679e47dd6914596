"""Runs the rules stage: python -m rules_service [--host 127.0.0.1] [--port 0] [--name rules]
[--downstream aggregate] [--control-url URL] [--downstream-address HOST:PORT]

Environment (read here, once): MR_CONTROL_HTTP_URL, MR_CONTROL_TOKEN, MR_PROCESS_NAME, and for
recovery tests MR_CRASH_AT=barrier:<N> with MR_CRASH_MARKER=<file> (services/PIPELINE.md).
Prints JSON log lines; "serving RulesService on 127.0.0.1:PORT" once it accepts runs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from .crash import CrashConfigError, parse_crash_point
from .log import Logger


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rules_service", description="The rules stage of the split pipeline (RulesService).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--name", default="rules")
    p.add_argument("--downstream", default="aggregate")
    p.add_argument("--control-url", default=os.environ.get("MR_CONTROL_HTTP_URL") or "http://127.0.0.1:3000")
    p.add_argument("--downstream-address", default=None, help="HOST:PORT of the downstream; skips the topology lookup")
    p.add_argument("--no-register", action="store_true", help="do not register with the control server (tests)")
    return p.parse_args(argv)


def keep_freed_memory() -> None:
    """glibc's malloc hands buffers over 128 KiB to the kernel on free (mmap/munmap, and
    trimming the heap), so every batch (0.2–4 MiB, several copies in grpcio and here) pays
    page faults and page zeroing again. Batches stay in the heap, and freed memory stays
    with the process: a few tens of MiB more resident, measurably less CPU per batch."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
    except (OSError, AttributeError):  # not glibc: leave malloc as it is
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log = Logger(args.name)
    keep_freed_memory()
    try:
        crash = parse_crash_point(os.environ.get("MR_CRASH_AT"), os.environ.get("MR_CRASH_MARKER"))
    except CrashConfigError as e:
        log.error(f"startup failed: {e}")
        print(f"rules: {e}", file=sys.stderr)
        return 2

    from .server import Config, RulesServicer, make_server
    from .topology import Activity, Reporter, TopologyClient

    token = os.environ.get("MR_CONTROL_TOKEN") or None
    cfg = Config(
        name=args.name,
        downstream=args.downstream,
        control_url=args.control_url,
        control_token=token,
        downstream_address=args.downstream_address,
        crash=crash,
    )
    activity = Activity()
    servicer = RulesServicer(cfg, log, activity)
    server, port = make_server(servicer, args.host, args.port)
    server.start()
    reg_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    address = f"{reg_host}:{port}"
    log.info(f"serving RulesService on {address}", port=port, crashAt=f"{crash.point}:{crash.checkpoint}" if crash else None)

    reporter = None
    if not args.no_register:
        reporter = Reporter(
            TopologyClient(cfg.control_url, token),
            name=args.name,
            address=address,
            host=reg_host,
            dependencies=[args.downstream],
            log=log,
            activity=activity,
            process_name=os.environ.get("MR_PROCESS_NAME") or None,
        )
        reporter.start()

    def warm_up() -> None:
        # numpy and the engine load once the port is open and registration is out (at most a
        # second later): a restarted process is found sooner, and a run arriving meanwhile
        # waits only for what is still loading.
        if reporter is not None:
            reporter.registered.wait(1.0)
        servicer.warm_up()

    threading.Thread(target=warm_up, name="rules-warm-up", daemon=True).start()

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # A supervised process must not outlive its supervisor: exit when re-parented.
    parent = os.getppid()
    watch_parent = bool(os.environ.get("MR_PROCESS_NAME"))
    while not stop.wait(0.5):
        if watch_parent and os.getppid() != parent:
            log.info("parent process went away; exiting")
            break
    t0 = time.monotonic()
    log.info("stopping")
    if reporter is not None:
        reporter.stop()
    t1 = time.monotonic()
    server.stop(grace=1.0).wait(2.0)
    servicer.close()
    log.info(f"stopped (unregistered in {t1 - t0:.3f} s, server stopped in {time.monotonic() - t1:.3f} s)")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is stopped and unregistered: exit without the interpreter's teardown, so no
    # lingering gRPC or HTTP thread can delay the exit a supervisor waits for.
    os._exit(code)
