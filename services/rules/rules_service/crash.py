"""Crash points for recovery tests (services/PIPELINE.md "Crash points"): with
MR_CRASH_AT=barrier:<N> and MR_CRASH_MARKER=<file> the stage kills itself with SIGKILL when
Barrier N arrives, once: only while the marker file does not exist, which it creates first."""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass

# The rules stage is stateless, so a barrier is the only point at which it can die for a test.
POINTS = ("barrier",)
# Points of the protocol that belong to other stages: named in the error, so a test that sets
# the wrong stage's variable learns why instead of seeing a generic "malformed".
OTHER_STAGES = {"saved": "aggregate and sink", "commit": "ingest", "end": "sink"}

_SPEC = re.compile(r"([A-Za-z_]+):([0-9]+)")


class CrashConfigError(ValueError):
    pass


@dataclass(frozen=True)
class CrashPoint:
    point: str
    checkpoint: int
    marker: str

    def at_barrier(self, checkpoint: int) -> str | None:
        """Kills the process when this is the barrier to die at and the marker is new. Returns
        why it did not when it should have (the marker could not be created), else None."""
        if self.point != "barrier" or checkpoint != self.checkpoint:
            return None
        try:
            fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None  # crashed here before: once only
        except OSError as e:
            return f"crash point barrier:{checkpoint} not taken: cannot create {self.marker}: {e.strerror}"
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        return None  # not reached


def parse_crash_point(at: str | None, marker: str | None) -> CrashPoint | None:
    """MR_CRASH_AT / MR_CRASH_MARKER → a CrashPoint, None when MR_CRASH_AT is unset or empty.
    Raises CrashConfigError naming the bad value."""
    if at is None or at.strip() == "":
        return None
    m = _SPEC.fullmatch(at.strip())
    if m is None:
        raise CrashConfigError(f'MR_CRASH_AT="{at}" is malformed: expected <point>:<N>, e.g. barrier:2')
    point, n = m.group(1), int(m.group(2))
    if point not in POINTS:
        other = OTHER_STAGES.get(point)
        where = f'"{point}" is a crash point of {other}' if other else f'"{point}" is not a crash point'
        raise CrashConfigError(f'MR_CRASH_AT="{at}": {where}; the rules stage has only "barrier"')
    if n < 1:
        raise CrashConfigError(f'MR_CRASH_AT="{at}": the checkpoint must be 1 or more (barriers count from 1)')
    if not marker:
        raise CrashConfigError(f'MR_CRASH_AT="{at}" needs MR_CRASH_MARKER=<file> (the crash happens once, while that file does not exist)')
    return CrashPoint(point, n, marker)
