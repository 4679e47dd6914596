"""DESIGN.md §4.3 rules: loading and strict checking, a line-by-line mirror of checkRules in
pipeline/src/rules.ts (same checks, same order, same messages)."""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Union

from . import jsjson
from .jsjson import UNDEFINED, show

Scalar = Union[str, int]

FIELDS = ("type", "user", "value")
OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "prefix")
MAX_SAFE_INTEGER = 2**53 - 1


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    field: str  # type | user | value
    op: str  # eq ne lt lte gt gte in prefix
    value: Any  # str | int | list[str] | list[int]


@dataclass(frozen=True)
class TagRule:
    when: Condition
    set: dict[str, str] = dc_field(default_factory=dict)  # in Object.entries order


@dataclass(frozen=True)
class Rules:
    drop: list[Condition]
    tag: list[TagRule]
    window_seconds: int = 60


DEFAULT_RULES = Rules(
    drop=[Condition("type", "eq", "view")],
    tag=[
        TagRule(Condition("value", "gte", 100), {"tier": "high"}),
        TagRule(Condition("value", "lt", 100), {"tier": "low"}),
    ],
    window_seconds=60,
)


def _is_object(v: Any) -> bool:
    return isinstance(v, dict)


def _is_number(v: Any) -> bool:
    # JSON.parse numbers arrive as floats (jsjson.parse); bool is not a JS number.
    return type(v) is float or type(v) is int


def _is_safe_integer(v: Any) -> bool:
    return _is_number(v) and v == v and abs(v) != float("inf") and float(v).is_integer() and abs(v) <= MAX_SAFE_INTEGER


def _get(d: dict[str, Any], k: str) -> Any:
    return d.get(k, UNDEFINED)


def _nullish(v: Any, default: Any) -> Any:
    """`v ?? default`"""
    return default if v is UNDEFINED or v is None else v


def _check_scalar(field: str, v: Any, where: str) -> Scalar:
    if field == "value":
        if not _is_safe_integer(v):
            raise RulesError(f'{where}: field "value" needs an integer, got {show(v)}')
        return int(v)
    if not isinstance(v, str):
        raise RulesError(f'{where}: field "{field}" needs a string, got {show(v)}')
    return v


def _check_condition(c: Any, where: str) -> Condition:
    if not _is_object(c):
        raise RulesError(f"{where}: condition must be an object, got {show(c)}")
    for k in jsjson.keys(c):
        if k not in ("field", "op", "value"):
            raise RulesError(f"{where}: unknown key {show(k)} in condition")
    f = _get(c, "field")
    if not isinstance(f, str) or f not in FIELDS:
        raise RulesError(f"{where}: unknown field {show(f)} (expected type, user or value)")
    op = _get(c, "op")
    if not isinstance(op, str) or op not in OPS:
        raise RulesError(f"{where}: unknown op {show(op)} (expected eq, ne, lt, lte, gt, gte, in or prefix)")
    if "value" not in c:
        raise RulesError(f'{where}: condition has no "value"')
    value = c["value"]
    if op == "in":
        if not isinstance(value, list):
            raise RulesError(f'{where}: op "in" needs an array, got {show(value)}')
        return Condition(f, op, [_check_scalar(f, x, where) for x in value])
    if op == "prefix":
        if f == "value":
            raise RulesError(f'{where}: op "prefix" works on strings only, not on field "value"')
        if not isinstance(value, str):
            raise RulesError(f'{where}: op "prefix" needs a string, got {show(value)}')
        return Condition(f, op, value)
    return Condition(f, op, _check_scalar(f, value, where))


def check_rules(raw: Any) -> Rules:
    """Checks a parsed rules object (from jsjson.parse); raises RulesError naming the bad value."""
    if not _is_object(raw):
        raise RulesError(f"rules must be a JSON object, got {show(raw)}")
    for k in jsjson.keys(raw):
        if k not in ("drop", "tag", "windowSeconds"):
            raise RulesError(f"unknown key {show(k)} (expected drop, tag, windowSeconds)")
    drop_raw = _nullish(_get(raw, "drop"), [])
    tag_raw = _nullish(_get(raw, "tag"), [])
    if not isinstance(drop_raw, list):
        raise RulesError(f'"drop" must be an array, got {show(drop_raw)}')
    if not isinstance(tag_raw, list):
        raise RulesError(f'"tag" must be an array, got {show(tag_raw)}')
    drop = [_check_condition(c, f"drop[{i}]") for i, c in enumerate(drop_raw)]
    tag: list[TagRule] = []
    for i, t in enumerate(tag_raw):
        where = f"tag[{i}]"
        if not _is_object(t):
            raise RulesError(f"{where}: rule must be an object, got {show(t)}")
        for k in jsjson.keys(t):
            if k not in ("when", "set"):
                raise RulesError(f"{where}: unknown key {show(k)}")
        when = _check_condition(_get(t, "when"), where)
        s = _get(t, "set")
        if not _is_object(s):
            raise RulesError(f'{where}: "set" must be an object of strings, got {show(s)}')
        tags: dict[str, str] = {}
        for name in jsjson.keys(s):
            v = s[name]
            if not isinstance(v, str):
                raise RulesError(f"{where}: tag {show(name)} needs a string value, got {show(v)}")
            tags[name] = v
        tag.append(TagRule(when, tags))
    ws = _nullish(_get(raw, "windowSeconds"), 60)
    if not _is_safe_integer(ws) or ws <= 0:
        raise RulesError(f'"windowSeconds" must be a positive integer, got {show(ws)}')
    return Rules(drop, tag, int(ws))


def parse_rules(text: str) -> Rules:
    """Rules from RunHeader.rules_json: "" means the default rules (§4.3)."""
    if text == "":
        return DEFAULT_RULES
    try:
        raw = jsjson.parse(text)
    except jsjson.JsonSyntaxError as e:
        raise RulesError(f"rules_json is not valid JSON: {e}") from None
    return check_rules(raw)
