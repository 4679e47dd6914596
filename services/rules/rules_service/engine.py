"""Applies §4.3 rules to one batch of event columns, vectorised with numpy.

String conditions are evaluated once per dictionary entry and then indexed by the column;
numeric conditions run on the whole `value` column (as int64, so thresholds beyond int32 compare
correctly). Strings compare by their UTF-8 bytes (Python bytes order is unsigned byte order).

Tags: every tag rule whose condition holds sets its tags, a later rule overriding an earlier one
for the same name. Each kept event gets a code with one bit per tag rule; the final tag set is
worked out once per distinct code (cached across batches) and identical sets are shared.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Sequence

import numpy as np

from .rules import Condition, Rules

I64 = np.dtype("<i8")
I32 = np.dtype("<i4")
U32 = np.dtype("<u4")

_NUM_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


class BatchError(ValueError):
    """A batch whose columns do not fit together (the message names what is wrong)."""


def _utf8(s: str) -> bytes:
    # Rule strings come from JSON and may hold lone surrogates ("\ud800"); such a value can never
    # equal a valid UTF-8 event string, which surrogatepass preserves.
    return s.encode("utf-8", "surrogatepass")


def _utf8_out(s: str) -> bytes:
    # Tag names and values travel on: always valid UTF-8 (lone surrogates → U+FFFD, as
    # TextEncoder and Buffer.from do in the TypeScript implementations).
    return s.encode("utf-8", "replace") if _has_surrogate(s) else s.encode("utf-8")


def _has_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def _dict_predicate(c: Condition) -> Callable[[Sequence[bytes]], np.ndarray]:
    """Returns f(dictionary entries) -> bool array, one verdict per entry."""
    op = c.op
    if op == "in":
        members = frozenset(_utf8(v) for v in c.value)
        test = members.__contains__
        return lambda d: np.fromiter(map(test, d), dtype=bool, count=len(d))
    if op == "prefix":
        p = _utf8(c.value)
        return lambda d: np.fromiter(map(bytes.startswith, d, repeat(p)), dtype=bool, count=len(d))
    v = _utf8(c.value)
    # entry OP v, written as a bound method of v (reflected) so map() stays in C.
    test = {
        "eq": v.__eq__,
        "ne": v.__ne__,
        "lt": v.__gt__,  # e < v  <=>  v > e
        "lte": v.__ge__,
        "gt": v.__lt__,
        "gte": v.__le__,
    }[op]
    return lambda d: np.fromiter(map(test, d), dtype=bool, count=len(d))


def _value_predicate(c: Condition) -> Callable[[np.ndarray], np.ndarray]:
    """Returns f(value column as int64) -> bool array."""
    if c.op == "in":
        members = sorted(set(int(x) for x in c.value))
        if not members:
            return lambda v: np.zeros(v.shape[0], dtype=bool)
        if len(members) <= 8:
            consts = [np.int64(x) for x in members]

            def small_in(v: np.ndarray) -> np.ndarray:
                m = v == consts[0]
                for x in consts[1:]:
                    m |= v == x
                return m

            return small_in
        arr = np.array(members, dtype=np.int64)
        return lambda v: np.isin(v, arr, assume_unique=False)
    f = _NUM_OPS[c.op]
    x = np.int64(int(c.value))
    return lambda v: f(v, x)


@dataclass
class _Column:
    """Lazily decoded view of one batch's columns for condition evaluation."""

    value: np.ndarray  # int32
    type_index: np.ndarray  # uint32
    user_index: np.ndarray  # uint32
    type_dict: Sequence[bytes]
    user_dict: Sequence[bytes]
    _v64: np.ndarray | None = None
    _tdict: list[bytes] | None = None
    _udict: list[bytes] | None = None
    _ti: np.ndarray | None = None
    _ui: np.ndarray | None = None

    # Fancy indexing with intp indexes is several times faster than with uint32 ones.
    def ti(self) -> np.ndarray:
        if self._ti is None:
            self._ti = self.type_index.astype(np.intp)
        return self._ti

    def ui(self) -> np.ndarray:
        if self._ui is None:
            self._ui = self.user_index.astype(np.intp)
        return self._ui

    def v64(self) -> np.ndarray:
        if self._v64 is None:
            self._v64 = self.value.astype(np.int64)
        return self._v64

    def tdict(self) -> list[bytes]:
        if self._tdict is None:
            self._tdict = list(self.type_dict)
        return self._tdict

    def udict(self) -> list[bytes]:
        if self._udict is None:
            self._udict = list(self.user_dict)
        return self._udict


class _CompiledCondition:
    __slots__ = ("field", "_dict_pred", "_value_pred")

    def __init__(self, c: Condition) -> None:
        self.field = c.field
        if c.field == "value":
            self._value_pred = _value_predicate(c)
            self._dict_pred = None
        else:
            self._dict_pred = _dict_predicate(c)
            self._value_pred = None

    def eval(self, col: _Column) -> np.ndarray:
        if self._value_pred is not None:
            return self._value_pred(col.v64())
        if self.field == "type":
            return _per_event(self._dict_pred(col.tdict()), col.type_index, col.ti)
        return _per_event(self._dict_pred(col.udict()), col.user_index, col.ui)


# Up to this many dictionary entries on the rarer side of a verdict, the per-event verdict is
# computed by comparing the index column with each of them (a few cheap passes) rather than by
# gathering from the per-entry verdicts (an intp copy of the index column and a gather).
_FEW_ENTRIES = 3


def _per_event(verdicts: np.ndarray, index: np.ndarray, intp_index: Callable[[], np.ndarray]) -> np.ndarray:
    """verdicts[index] (one verdict per dictionary entry → one per event); the indexes are
    known to be in range (check_columns)."""
    n = index.shape[0]
    hits = np.flatnonzero(verdicts).tolist()
    if not hits:
        return np.zeros(n, dtype=bool)
    if len(hits) == len(verdicts):
        return np.ones(n, dtype=bool)
    if len(hits) <= _FEW_ENTRIES:
        m = index == hits[0]  # Python ints: compared as uint32, no conversion of the column
        for h in hits[1:]:
            m |= index == h
        return m
    if len(verdicts) - len(hits) <= _FEW_ENTRIES:
        misses = np.flatnonzero(~verdicts).tolist()
        m = index != misses[0]
        for h in misses[1:]:
            m &= index != h
        return m
    return verdicts[intp_index()]


@dataclass
class Applied:
    """What apply() produced for one batch."""

    count: int
    dropped: int
    # bytes from apply(); bytes-like (the input buffers, or numpy arrays) from apply_buffers()
    ts_seconds: Any
    value: Any
    type_index: Any
    user_index: Any
    tag_set_index: Any
    tag_sets: list[tuple[bytes, ...]]  # each: pairs sorted by bytes


# Up to this many tag rules, distinct codes are found with a bincount over 2^R slots.
_BINCOUNT_MAX_RULES = 12
# Up to this many, by comparing the codes with each of the 2^R values.
_SCAN_MAX_RULES = 3


class Engine:
    """Compiled rules; apply() is safe to call from several threads at once."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._drop = [_CompiledCondition(c) for c in rules.drop]
        self._tag_when = [_CompiledCondition(t.when) for t in rules.tag]
        self._tag_set = [[(_utf8_out(n), _utf8_out(v)) for n, v in t.set.items()] for t in rules.tag]
        self._tagsets_by_code: dict[object, tuple[bytes, ...]] = {}

    # -- tag sets ---------------------------------------------------------------------------
    def _pairs_for_rules(self, fired: Sequence[int]) -> tuple[bytes, ...]:
        final: dict[bytes, bytes] = {}
        for r in fired:  # ascending: a later rule overrides an earlier one
            for n, v in self._tag_set[r]:
                final[n] = v
        return tuple(sorted(n + b"=" + v for n, v in final.items()))

    def _pairs_for_code(self, code: int) -> tuple[bytes, ...]:
        got = self._tagsets_by_code.get(code)
        if got is None:
            fired = [r for r in range(len(self._tag_set)) if (code >> r) & 1]
            got = self._pairs_for_rules(fired)
            if len(self._tagsets_by_code) < 65536:
                self._tagsets_by_code[code] = got
        return got

    def _tags(self, col: _Column, n: int) -> tuple[np.ndarray, list[tuple[bytes, ...]]]:
        """Per kept event, an index into the returned list of distinct tag sets."""
        nrules = len(self._tag_when)
        if n == 0:
            return np.zeros(0, dtype=U32), []
        if nrules == 0:
            return np.zeros(n, dtype=U32), [()]
        if nrules <= 63:
            dt = np.uint8 if nrules <= 8 else np.uint16 if nrules <= 16 else np.uint32 if nrules <= 32 else np.uint64
            code = np.zeros(n, dtype=dt)
            for r, cond in enumerate(self._tag_when):
                m = cond.eval(col).view(np.uint8)
                code |= m.astype(dt, copy=False) << dt(r) if r else m
            ci = None
            if nrules <= _SCAN_MAX_RULES:  # at most 8 codes: test each one
                present = [c for c in range(1 << nrules) if (code == c).any()]
                lut = np.zeros(1 << nrules, dtype=U32)
            elif nrules <= _BINCOUNT_MAX_RULES:
                ci = code.astype(np.intp)
                present = np.flatnonzero(np.bincount(ci, minlength=1 << nrules)).tolist()
                lut = np.zeros(1 << nrules, dtype=U32)
            else:
                uniq, ci = np.unique(code, return_inverse=True)
                present = uniq.tolist()
                ci = ci.reshape(-1)
                lut = np.zeros(len(present), dtype=U32)
            sets: list[tuple[bytes, ...]] = []
            where: dict[tuple[bytes, ...], int] = {}
            for i, c in enumerate(present):
                pairs = self._pairs_for_code(c)
                j = where.get(pairs)
                if j is None:
                    j = where[pairs] = len(sets)
                    sets.append(pairs)
                lut[c if nrules <= _BINCOUNT_MAX_RULES else i] = j
            return (lut.take(code) if ci is None else lut[ci]), sets
        # Very many tag rules: one bool column per rule, distinct rows via np.unique.
        bits = np.empty((n, nrules), dtype=bool)
        for r, cond in enumerate(self._tag_when):
            bits[:, r] = cond.eval(col)
        packed = np.packbits(bits, axis=1)
        rows, inverse = np.unique(packed, axis=0, return_inverse=True)
        sets = []
        where = {}
        lut = np.zeros(len(rows), dtype=U32)
        for i, row in enumerate(np.unpackbits(rows, axis=1, count=nrules).astype(bool)):
            pairs = self._pairs_for_rules(np.flatnonzero(row).tolist())
            j = where.get(pairs)
            if j is None:
                j = where[pairs] = len(sets)
                sets.append(pairs)
            lut[i] = j
        return lut[inverse.reshape(-1)], sets

    # -- one batch ----------------------------------------------------------------------------
    def apply(
        self,
        count: int,
        ts_seconds: bytes,
        value: bytes,
        type_index: bytes,
        type_dict: Sequence[bytes],
        user_index: bytes,
        user_dict: Sequence[bytes],
    ) -> Applied:
        """Like apply_buffers(), with every column as bytes."""
        res = self.apply_buffers(count, ts_seconds, value, type_index, type_dict, user_index, user_dict)
        res.ts_seconds, res.value, res.type_index, res.user_index, res.tag_set_index = (
            bytes(res.ts_seconds), bytes(res.value), bytes(res.type_index), bytes(res.user_index), bytes(res.tag_set_index)
        )
        return res

    def apply_buffers(
        self,
        count: int,
        ts_seconds: Any,
        value: Any,
        type_index: Any,
        type_dict: Sequence[bytes],
        user_index: Any,
        user_dict: Sequence[bytes],
    ) -> Applied:
        """Applies the rules to one batch's columns (any bytes-like objects, e.g. memoryview
        slices of the received message). The columns of the result are the given objects when
        nothing was dropped, else numpy arrays; tag_set_index is a numpy array. Nothing is
        copied to bytes: they go into the outgoing message through the buffer protocol.
        `user_dict` is only iterated when a rule tests `user`."""
        check_columns(count, ts_seconds, value, type_index, len(type_dict), user_index, len(user_dict))
        v = np.frombuffer(value, dtype=I32)
        ti = np.frombuffer(type_index, dtype=U32)
        ui = np.frombuffer(user_index, dtype=U32)
        col = _Column(v, ti, ui, type_dict, user_dict)

        drop = None
        for cond in self._drop:
            m = cond.eval(col)
            drop = m if drop is None else (drop | m)
        if drop is not None and drop.any():
            idx = np.flatnonzero(~drop)  # then take(): faster than boolean indexing
            kept = len(idx)
            ts = np.frombuffer(ts_seconds, dtype=I64).take(idx)
            v = v.take(idx)
            ti = ti.take(idx)
            ui = ui.take(idx)
            col = _Column(
                v, ti, ui, type_dict, user_dict,
                _v64=None if col._v64 is None else col._v64.take(idx),
                _tdict=col._tdict, _udict=col._udict,
                _ti=None if col._ti is None else col._ti.take(idx),
                _ui=None if col._ui is None else col._ui.take(idx),
            )
            out_ts, out_v, out_ti, out_ui = ts, v, ti, ui
        else:
            kept = count
            out_ts, out_v, out_ti, out_ui = ts_seconds, value, type_index, user_index
        index, sets = self._tags(col, kept)
        return Applied(
            count=kept,
            dropped=count - kept,
            ts_seconds=out_ts,
            value=out_v,
            type_index=out_ti,
            user_index=out_ui,
            tag_set_index=index,
            tag_sets=sets,
        )


def check_columns(
    count: int, ts_seconds: bytes, value: bytes, type_index: bytes, ntypes: int, user_index: bytes, nusers: int
) -> None:
    """Raises BatchError when the columns disagree with count or an index is out of range."""
    for name, col, width in (
        ("ts_seconds", ts_seconds, 8),
        ("value", value, 4),
        ("type_index", type_index, 4),
        ("user_index", user_index, 4),
    ):
        if len(col) != count * width:
            raise BatchError(f"column {name} has {len(col)} bytes, expected {count * width} for {count} events")
    if count == 0:
        return
    for name, col, n, dname in (("type_index", type_index, ntypes, "type_dict"), ("user_index", user_index, nusers, "user_dict")):
        mx = int(np.frombuffer(col, dtype=U32).max())
        if mx >= n:
            raise BatchError(f"{name} holds {mx}, but {dname} has {n} entries")
