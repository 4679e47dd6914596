"""The control server's TopologyService over Connect unary JSON on HTTP/1.1 (urllib):
registration, heartbeats, activity reports, lookup and unregistration (services/PIPELINE.md)."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import VERSION
from .log import Logger

SERVICE = "runtime.v1.TopologyService"


class TopologyError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # HTTP status when the server answered; None when unreachable


class TopologyClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        data = json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}/{SERVICE}/{method}", data=data, method="POST")
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                text = res.read()
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = json.loads(e.read() or b"{}").get("message", "")
            except Exception:  # noqa: BLE001 - the body is advisory
                pass
            raise TopologyError(f"{method}: HTTP {e.code}{': ' + detail if detail else ''}", e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise TopologyError(f"{method}: {reason}") from None
        try:
            return json.loads(text or b"{}")
        except ValueError:
            raise TopologyError(f"{method}: reply is not JSON") from None

    def lookup(self, name: str, timeout: float = 5.0) -> str | None:
        """Address of the newest live instance of `name`, or None."""
        res = self.call("LookupService", {"name": name}, timeout=timeout)
        for inst in res.get("instances") or []:
            addr = inst.get("address") or ""
            if addr:
                return addr
        return None


@dataclass
class _Pending:
    count: int = 0
    errors: int = 0
    latency_sum_us: int = 0
    latency_max_us: int = 0
    items: int = 0
    last_error: str = ""


class Activity:
    """Traffic to the downstream, aggregated until the reporter sends it (once a second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._p: dict[tuple[str, str], _Pending] = {}

    def record(self, target: str, method: str, latency_s: float, items: int, ok: bool = True, error: str = "") -> None:
        us = max(0, int(round(latency_s * 1e6)))
        with self._lock:
            p = self._p.get((target, method))
            if p is None:
                p = self._p[(target, method)] = _Pending()
            p.count += 1
            p.latency_sum_us += us
            p.latency_max_us = max(p.latency_max_us, us)
            p.items += items
            if not ok:
                p.errors += 1
                if error:
                    p.last_error = error

    def take(self) -> dict[tuple[str, str], _Pending]:
        with self._lock:
            p, self._p = self._p, {}
        return p


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Reporter:
    """Registers, beats, reports activity; re-registers when a beat is refused; keeps retrying
    (every second, logging once) while the control server is unreachable."""

    def __init__(
        self,
        client: TopologyClient,
        name: str,
        address: str,
        host: str,
        dependencies: list[str],
        log: Logger,
        activity: Activity,
        process_name: str | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.address = address
        self.host = host
        self.dependencies = dependencies
        self.log = log
        self.activity = activity
        self.process_name = process_name
        self.instance_id: str | None = None
        self.interval_s = 1.0
        self._seq = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._unreachable_logged = False
        self.registered = threading.Event()  # set at the first successful registration
        self._threads: list[threading.Thread] = []
        self._cpu = self._cpu_now()

    @staticmethod
    def _cpu_now() -> tuple[float, float]:
        t = os.times()
        return (t.user + t.system, time.monotonic())

    def start(self) -> None:
        for target, name in ((self._beat_loop, "topology-beat"), (self._activity_loop, "topology-activity")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _unreachable(self, e: TopologyError) -> None:
        if not self._unreachable_logged:
            self._unreachable_logged = True
            self.log.warn(f"control server not reachable at {self.client.base_url} ({e}); retrying every second")

    def _register(self) -> bool:
        body: dict[str, Any] = {
            "name": self.name,
            "type": "SERVICE_TYPE_HYBRID",
            "language": "SERVICE_LANGUAGE_PYTHON",
            "version": VERSION,
            "address": self.address,
            "host": self.host,
            "pid": os.getpid(),
            "metadata": {"pipeline": "split", "stage": "rules"},
            "dependencies": self.dependencies,
        }
        if self.process_name:
            body["processName"] = self.process_name
        try:
            res = self.client.call("RegisterService", body, timeout=2.0)
        except TopologyError as e:
            if e.status is None:
                self._unreachable(e)
            else:
                self.log.warn(f"registration refused ({e}); retrying every second")
            return False
        with self._lock:
            self.instance_id = res.get("instanceId") or None
        try:
            self.interval_s = max(0.05, float(res.get("heartbeatIntervalMs") or 1000) / 1000.0)
        except (TypeError, ValueError):
            self.interval_s = 1.0
        self._unreachable_logged = False
        self.log.info(f"registered as {self.instance_id} (heartbeat every {int(self.interval_s * 1000)} ms)")
        self.registered.set()
        return self.instance_id is not None

    def _beat(self) -> None:
        cpu, at = self._cpu_now()
        cpu0, at0 = self._cpu
        self._cpu = (cpu, at)
        pct = 100.0 * (cpu - cpu0) / max(1e-6, at - at0)
        self._seq += 1
        body = {
            "instanceId": self.instance_id,
            "sequence": str(self._seq),
            "health": {"state": "HEALTH_STATE_HEALTHY"},
            "metrics": {"rssBytes": str(_rss_bytes()), "cpuPercent": round(pct, 3)},
        }
        try:
            self.client.call("SendHeartbeat", body, timeout=2.0)
            self._unreachable_logged = False
        except TopologyError as e:
            if e.status is None:
                self._unreachable(e)  # keep the instance id; beat again in a second
                self._stop.wait(max(0.0, 1.0 - self.interval_s))
            else:
                self.log.info(f"heartbeat refused ({e}); registering again")
                with self._lock:
                    self.instance_id = None

    def _beat_loop(self) -> None:
        while not self._stop.is_set():
            if self.instance_id is None:
                if not self._register():
                    self._stop.wait(1.0)
                    continue
            if self._stop.wait(self.interval_s):
                break
            self._beat()

    def _activity_loop(self) -> None:
        while not self._stop.wait(1.0):
            self._flush_activity()

    def _flush_activity(self) -> None:
        iid = self.instance_id
        if iid is None:
            return
        pending = self.activity.take()
        if not pending:
            return
        now = str(int(time.time() * 1000))
        events = [
            {
                "targetService": target,
                "method": method,
                "type": "ACTIVITY_TYPE_REQUEST",
                "count": p.count,
                "errorCount": p.errors,
                "latencySumUs": str(p.latency_sum_us),
                "latencyMaxUs": str(p.latency_max_us),
                "itemCount": str(p.items),
                "timestampMs": now,
                **({"lastError": p.last_error} if p.last_error else {}),
            }
            for (target, method), p in pending.items()
        ]
        try:
            self.client.call("ReportActivity", {"instanceId": iid, "events": events}, timeout=2.0)
        except TopologyError:
            pass  # advisory: a report lost while the control server restarts is acceptable

    def stop(self) -> None:
        """Flushes activity, unregisters (best effort) and stops the threads."""
        if self._stop.is_set():
            return
        self._stop.set()
        for t in self._threads:  # a registration in flight ends first (2 s at most)
            t.join(timeout=3.0)
        self._flush_activity()
        iid = self.instance_id
        if iid:
            try:
                self.client.call("UnregisterService", {"instanceId": iid}, timeout=1.0)
            except TopologyError:
                pass
