"""JSON the way JavaScript sees it, so that rule errors read exactly like pipeline/src/rules.ts.

- ``parse`` mirrors ``JSON.parse``: every number is an IEEE double (``100.0`` is the integer
  100, ``9007199254740993`` becomes 9007199254740992, ``1e400`` is Infinity), ``NaN`` and
  ``Infinity`` literals are rejected, a duplicated key keeps its first position and last value.
- ``keys`` is the order of ``Object.keys``: array-index keys ("0", "17") ascending first, then the
  other keys in insertion order.
- ``stringify`` mirrors ``JSON.stringify`` (key order, string escapes, number formatting) and
  ``show`` the ``show()`` helper of rules.ts (cut to 80 UTF-16 code units).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, Iterator

UNDEFINED = object()  # JavaScript's `undefined`: a missing property


class JsonSyntaxError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise JsonSyntaxError(f"Unexpected token {name[0]}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        d[k] = v  # a repeated key keeps its first position and takes the last value, as in JS
    return d


_decoder = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant, object_pairs_hook=_pairs)


def parse(text: str) -> Any:
    """JSON.parse: raises JsonSyntaxError on anything JSON.parse would refuse."""
    try:
        return _decoder.decode(text)
    except JsonSyntaxError:
        raise
    except RecursionError:
        return _parse_deep(text)  # JSON.parse has no depth limit: neither do we
    except ValueError as e:  # json.JSONDecodeError
        raise JsonSyntaxError(str(e)) from None


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _parse_deep(text: str) -> Any:
    """An iterative JSON parser (no recursion), for documents nested too deeply for the json
    module. Same grammar and results as parse()."""
    pos = 0
    n = len(text)
    # Stack of containers being filled: [list] or [dict, pending key].
    stack: list[list[Any]] = []
    result: Any = None

    def fail(what: str) -> JsonSyntaxError:
        return JsonSyntaxError(f"{what} at position {pos}")

    def ws() -> None:
        nonlocal pos
        pos = _WS.match(text, pos).end()

    while True:
        ws()
        # Parse one value (or open a container).
        if pos >= n:
            raise fail("Unexpected end of JSON input")
        c = text[pos]
        if c == "{":
            pos += 1
            ws()
            if pos < n and text[pos] == "}":
                pos += 1
                value: Any = {}
            else:
                if pos >= n or text[pos] != '"':
                    raise fail("Expected property name")
                key, pos = json.decoder.scanstring(text, pos + 1, True)
                ws()
                if pos >= n or text[pos] != ":":
                    raise fail("Expected ':'")
                pos += 1
                stack.append([{}, key])
                continue
        elif c == "[":
            pos += 1
            ws()
            if pos < n and text[pos] == "]":
                pos += 1
                value = []
            else:
                stack.append([[]])
                continue
        elif c == '"':
            try:
                value, pos = json.decoder.scanstring(text, pos + 1, True)
            except ValueError as e:
                raise JsonSyntaxError(str(e)) from None
        elif text.startswith("true", pos):
            value, pos = True, pos + 4
        elif text.startswith("false", pos):
            value, pos = False, pos + 5
        elif text.startswith("null", pos):
            value, pos = None, pos + 4
        else:
            m = _NUMBER.match(text, pos)
            if m is None:
                raise fail(f"Unexpected token {c!r}")
            value, pos = float(m.group(0)), m.end()
        # Attach the value, closing containers as far as they end here.
        while True:
            if not stack:
                ws()
                if pos != n:
                    raise fail("Unexpected non-whitespace character after JSON")
                return value
            top = stack[-1]
            if isinstance(top[0], list):
                top[0].append(value)
            else:
                top[0][top[1]] = value
            ws()
            if pos < n and text[pos] == ",":
                pos += 1
                if isinstance(top[0], dict):
                    ws()
                    if pos >= n or text[pos] != '"':
                        raise fail("Expected property name")
                    try:
                        key, pos = json.decoder.scanstring(text, pos + 1, True)
                    except ValueError as e:
                        raise JsonSyntaxError(str(e)) from None
                    ws()
                    if pos >= n or text[pos] != ":":
                        raise fail("Expected ':'")
                    pos += 1
                    top[1] = key
                break  # parse the next element
            close = "]" if isinstance(top[0], list) else "}"
            if pos < n and text[pos] == close:
                pos += 1
                value = stack.pop()[0]
                continue
            raise fail(f"Expected ',' or '{close}'")


_INDEX = re.compile(r"(?:0|[1-9][0-9]*)\Z")


def _is_array_index(k: str) -> bool:
    return bool(_INDEX.match(k)) and int(k) < 2**32 - 1


def keys(d: dict[str, Any]) -> list[str]:
    """Object.keys order."""
    idx = sorted((k for k in d if _is_array_index(k)), key=int)
    return idx + [k for k in d if not _is_array_index(k)]


def number_to_string(x: float) -> str:
    """Number.prototype.toString() for a double (ECMAScript Number::toString, radix 10)."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x < 0:
        return "-" + number_to_string(-x)
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    t = Decimal(repr(float(x))).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    k = len(digits)
    n = t.exponent + k  # value = 0.d1d2…dk × 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mant}e{sign}{abs(e)}"


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESC = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')


def _quote(s: str) -> str:
    def esc(m: re.Match[str]) -> str:
        c = m.group(0)
        return _ESC.get(c) or f"\\u{ord(c):04x}"

    if _NEEDS_ESC.search(s) is None:
        return '"' + s + '"'
    # Well-formed JSON.stringify: surrogate pairs stay, lone surrogates become \udxxx escapes.
    # In a Python str a valid pair is one code point already, so any surrogate here is lone.
    return '"' + _NEEDS_ESC.sub(esc, s) + '"'


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return number_to_string(v) if math.isfinite(v) else "null"
    if isinstance(v, int):
        return number_to_string(float(v))
    if isinstance(v, str):
        return _quote(v)
    raise TypeError(f"not a JSON value: {v!r}")


def _chunks(v: Any) -> Iterator[str]:
    """JSON.stringify(v) piece by piece, without recursion (values may nest very deeply)."""
    stack: list[Iterator[Any]] = [iter((v,))]
    closers: list[str] = [""]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            yield closers.pop()
            continue
        if isinstance(item, _Key):
            yield item.text
            continue
        if isinstance(item, list):
            yield "["
            stack.append(_interleave(item))
            closers.append("]")
        elif isinstance(item, dict):
            yield "{"
            stack.append(_interleave_obj(item))
            closers.append("}")
        else:
            yield _scalar(item)


_END = object()


class _Key:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _interleave(items: list[Any]) -> Iterator[Any]:
    for i, x in enumerate(items):
        if i:
            yield _Key(",")
        yield x


def _interleave_obj(d: dict[str, Any]) -> Iterator[Any]:
    for i, k in enumerate(keys(d)):
        yield _Key(("," if i else "") + _quote(k) + ":")
        yield d[k]


def stringify(v: Any) -> Any:
    """JSON.stringify(v) for values JSON.parse produces; UNDEFINED for undefined."""
    if v is UNDEFINED:
        return UNDEFINED
    return "".join(_chunks(v))


def _utf16_len(s: str) -> int:
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def _utf16_slice(s: str, n: int) -> str:
    """s.slice(0, n) in UTF-16 code units; a pair cut in half leaves U+FFFD (as UTF-8 encoding
    of the lone surrogate would)."""
    out: list[str] = []
    units = 0
    for c in s:
        w = 2 if ord(c) > 0xFFFF else 1
        if units + w > n:
            if units < n:
                out.append("\ufffd")
            break
        out.append(c)
        units += w
    return "".join(out)


def show(v: Any) -> str:
    """rules.ts show(): JSON text of v, cut to 80 UTF-16 code units."""
    if v is UNDEFINED:
        return "undefined"
    parts: list[str] = []
    units = 0
    for piece in _chunks(v):  # stop early: only the first 80 code units matter
        parts.append(piece)
        units += _utf16_len(piece)
        if units > 80:
            break
    s = "".join(parts)
    if units > 80:
        return _utf16_slice(s, 77) + "..."
    return s
