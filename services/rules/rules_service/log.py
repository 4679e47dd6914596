"""JSON log lines on stdout: {"ts":…,"level":…,"msg":…,"service":…,"correlationId":…}."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()


class Logger:
    def __init__(self, service: str, correlation_id: str | None = None, stream: Any = None) -> None:
        self.service = service
        self.correlation_id = correlation_id
        self._stream = stream

    def child(self, correlation_id: str) -> "Logger":
        return Logger(self.service, correlation_id, self._stream)

    def _emit(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        line: dict[str, Any] = {"ts": int(time.time() * 1000), "level": level, "msg": msg, "service": self.service}
        if self.correlation_id:
            line["correlationId"] = self.correlation_id
        for k, v in fields.items():
            if k not in line and v is not None:
                line[k] = v
        text = json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=str) + "\n"
        stream = self._stream or sys.stdout
        with _lock:
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                pass

    def info(self, msg: str, **fields: Any) -> None:
        self._emit("info", msg, fields)

    def warn(self, msg: str, **fields: Any) -> None:
        self._emit("warn", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        self._emit("error", msg, fields)
