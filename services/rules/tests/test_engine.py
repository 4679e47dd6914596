"""Evaluation semantics of §4.3 on event columns (engine.Engine.apply)."""

import random

import numpy as np
import pytest

from rules_service.engine import BatchError, Engine
from rules_service.rules import DEFAULT_RULES, parse_rules

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def columns(events):
    """events: list of (ts, type str, user str, value) -> apply() arguments, dicts in first-seen order."""
    types, users = {}, {}
    ti = [types.setdefault(t.encode(), len(types)) for _, t, _, _ in events]
    ui = [users.setdefault(u.encode(), len(users)) for _, _, u, _ in events]
    return dict(
        count=len(events),
        ts_seconds=np.array([e[0] for e in events], dtype="<i8").tobytes(),
        value=np.array([e[3] for e in events], dtype="<i4").tobytes(),
        type_index=np.array(ti, dtype="<u4").tobytes(),
        type_dict=list(types),
        user_index=np.array(ui, dtype="<u4").tobytes(),
        user_dict=list(users),
    )


def run(rules, events):
    """-> (kept events as (ts, type, user, value), tags per kept event as list of b"name=value")."""
    engine = rules if isinstance(rules, Engine) else Engine(parse_rules(rules) if isinstance(rules, str) else rules)
    cols = columns(events)
    out = engine.apply(**cols)
    n = out.count
    ts = np.frombuffer(out.ts_seconds, "<i8").tolist()
    v = np.frombuffer(out.value, "<i4").tolist()
    ti = np.frombuffer(out.type_index, "<u4").tolist()
    ui = np.frombuffer(out.user_index, "<u4").tolist()
    tsi = np.frombuffer(out.tag_set_index, "<u4").tolist()
    assert len(ts) == len(v) == len(ti) == len(ui) == len(tsi) == n
    assert out.dropped == len(events) - n
    assert len(set(out.tag_sets)) == len(out.tag_sets), "identical tag sets must be shared"
    for s in out.tag_sets:
        assert list(s) == sorted(s), "pairs sorted by bytes"
    kept = [(ts[i], cols["type_dict"][ti[i]].decode(), cols["user_dict"][ui[i]].decode(), v[i]) for i in range(n)]
    return kept, [list(out.tag_sets[j]) for j in tsi]


# -- a plain per-event reference of §4.3 ----------------------------------------------------------
def holds(c, ev):
    _, t, u, v = ev
    x = {"type": t.encode("utf-8", "surrogatepass"), "user": u.encode("utf-8", "surrogatepass"), "value": v}[c.field]
    cv = c.value
    enc = (lambda s: s.encode("utf-8", "surrogatepass")) if c.field != "value" else (lambda s: s)
    if c.op == "in":
        return any(x == enc(m) for m in cv)
    if c.op == "prefix":
        return x.startswith(enc(cv))
    y = enc(cv)
    return {"eq": x == y, "ne": x != y, "lt": x < y, "lte": x <= y, "gt": x > y, "gte": x >= y}[c.op]


def reference(rules, events):
    kept = [e for e in events if not any(holds(c, e) for c in rules.drop)]
    tags = []
    for e in kept:
        final = {}
        for t in rules.tag:
            if holds(t.when, e):
                final.update(t.set)
        tags.append(sorted(f"{k}={v}".encode() for k, v in final.items()))
    return kept, tags


# -- tests ------------------------------------------------------------------------------------------
def test_default_rules():
    events = [(1, "view", "u1", 500), (2, "click", "u1", 100), (3, "click", "u2", 99), (4, "buy", "u3", -5), (5, "View", "u1", 1)]
    kept, tags = run(DEFAULT_RULES, events)
    assert kept == [(2, "click", "u1", 100), (3, "click", "u2", 99), (4, "buy", "u3", -5), (5, "View", "u1", 1)]
    assert tags == [[b"tier=high"], [b"tier=low"], [b"tier=low"], [b"tier=low"]]


def test_empty_batch_and_everything_dropped():
    out = Engine(DEFAULT_RULES).apply(**columns([]))
    assert (out.count, out.dropped, out.tag_set_index, out.tag_sets) == (0, 0, b"", [])
    kept, tags = run(DEFAULT_RULES, [(1, "view", "a", 1), (2, "view", "b", 2)])
    assert kept == [] and tags == []


def test_drop_when_any_condition_holds():
    rules = '{"drop":[{"field":"type","op":"eq","value":"a"},{"field":"value","op":"lt","value":0},{"field":"user","op":"prefix","value":"bot-"}],"tag":[]}'
    events = [(1, "a", "u", 5), (2, "b", "u", -1), (3, "b", "bot-7", 5), (4, "b", "u", 0), (5, "b", "bo", 3)]
    kept, tags = run(rules, events)
    assert kept == [(4, "b", "u", 0), (5, "b", "bo", 3)]
    assert tags == [[], []]  # no tags: an empty tag set


def test_strings_compare_by_utf8_bytes():
    # U+FF5E is EF BD 9E, U+1F600 is F0 9F 98 80: by UTF-8 bytes "～" < "😀", though in UTF-16
    # code units (D83D < FF5E) it is the other way round. "é" (C3 A9) > "z" (7A).
    events = [(1, "\uff5e", "u", 1), (2, "\U0001f600", "u", 1), (3, "z", "u", 1), (4, "é", "u", 1), (5, "", "u", 1)]
    kept, _ = run('{"drop":[{"field":"type","op":"gt","value":"\\uff5e"}]}', events)
    assert [e[1] for e in kept] == ["\uff5e", "z", "é", ""]
    kept, _ = run('{"drop":[{"field":"type","op":"lt","value":"é"}]}', events)
    assert [e[1] for e in kept] == ["\uff5e", "\U0001f600", "é"]
    kept, _ = run('{"drop":[{"field":"type","op":"gte","value":"z"}]}', events)
    assert [e[1] for e in kept] == [""]
    kept, _ = run('{"drop":[{"field":"type","op":"lte","value":""}]}', events)
    assert [e[1] for e in kept] == ["\uff5e", "\U0001f600", "z", "é"]
    kept, _ = run('{"drop":[{"field":"type","op":"ne","value":"é"}]}', events)
    assert [e[1] for e in kept] == ["é"]


def test_prefix_is_a_byte_prefix():
    events = [(1, "x", "ab", 1), (2, "x", "abc", 1), (3, "x", "a", 1), (4, "x", "éa", 1), (5, "x", "é", 1), (6, "x", "Ab", 1)]
    kept, _ = run('{"drop":[{"field":"user","op":"prefix","value":"ab"}]}', events)
    assert [e[2] for e in kept] == ["a", "éa", "é", "Ab"]
    kept, _ = run('{"drop":[{"field":"user","op":"prefix","value":"é"}]}', events)
    assert [e[2] for e in kept] == ["ab", "abc", "a", "Ab"]
    kept, _ = run('{"drop":[{"field":"user","op":"prefix","value":""}]}', events)
    assert kept == []


def test_in_membership():
    events = [(1, "a", "u1", 1), (2, "b", "u2", 2), (3, "c", "u3", 3), (4, "d", "u4", I32_MIN)]
    kept, _ = run('{"drop":[{"field":"type","op":"in","value":["a","c","zz"]}]}', events)
    assert [e[1] for e in kept] == ["b", "d"]
    kept, _ = run('{"drop":[{"field":"value","op":"in","value":[2, -2147483648, 4294967298]}]}', events)
    assert [e[3] for e in kept] == [1, 3]
    kept, _ = run('{"drop":[{"field":"user","op":"in","value":[]},{"field":"value","op":"in","value":[]}]}', events)
    assert len(kept) == 4
    many = list(range(0, 40, 2))  # more than the small-list path
    kept, _ = run('{"drop":[{"field":"value","op":"in","value":%s}]}' % many, [(i, "t", "u", i) for i in range(10)])
    assert [e[3] for e in kept] == [1, 3, 5, 7, 9]


def test_value_compares_as_integer_at_int32_extremes():
    events = [(1, "t", "u", I32_MIN), (2, "t", "u", -1), (3, "t", "u", 0), (4, "t", "u", I32_MAX)]

    def kept_values(cond):
        return [e[3] for e in run('{"drop":[%s]}' % cond, events)[0]]

    assert kept_values('{"field":"value","op":"gt","value":2147483647}') == [I32_MIN, -1, 0, I32_MAX]
    assert kept_values('{"field":"value","op":"gte","value":2147483647}') == [I32_MIN, -1, 0]
    assert kept_values('{"field":"value","op":"lt","value":-2147483648}') == [I32_MIN, -1, 0, I32_MAX]
    assert kept_values('{"field":"value","op":"lte","value":-2147483648}') == [-1, 0, I32_MAX]
    assert kept_values('{"field":"value","op":"lt","value":9007199254740991}') == []
    assert kept_values('{"field":"value","op":"gt","value":-9007199254740991}') == []
    assert kept_values('{"field":"value","op":"eq","value":4294967295}') == [I32_MIN, -1, 0, I32_MAX]  # no wrap-around
    assert kept_values('{"field":"value","op":"ne","value":-2147483648}') == [I32_MIN]
    assert kept_values('{"field":"value","op":"eq","value":-0}') == [I32_MIN, -1, I32_MAX]


def test_later_tag_rule_overrides_earlier_for_the_same_name():
    rules = (
        '{"drop":[],"tag":['
        '{"when":{"field":"value","op":"gte","value":0},"set":{"tier":"low","sign":"plus"}},'
        '{"when":{"field":"value","op":"gte","value":100},"set":{"tier":"high"}},'
        '{"when":{"field":"type","op":"eq","value":"vip"},"set":{"tier":"vip","z":"1","a-b":"c"}},'
        '{"when":{"field":"value","op":"gte","value":1000},"set":{"tier":"huge"}}'
        "]}"
    )
    events = [(1, "x", "u", -1), (2, "x", "u", 5), (3, "x", "u", 150), (4, "vip", "u", 150), (5, "vip", "u", 5000), (6, "x", "u", 9)]
    _, tags = run(rules, events)
    assert tags == [
        [],
        [b"sign=plus", b"tier=low"],
        [b"sign=plus", b"tier=high"],
        [b"a-b=c", b"sign=plus", b"tier=vip", b"z=1"],  # sorted by bytes: "-" (2D) < "=" (3D)
        [b"a-b=c", b"sign=plus", b"tier=huge", b"z=1"],
        [b"sign=plus", b"tier=low"],
    ]


def test_tag_pairs_sort_by_bytes_and_keep_utf8():
    rules = '{"tag":[{"when":{"field":"value","op":"gte","value":0},"set":{"é":"1","z":"ü","a":"","Z":"x"}}]}'
    _, tags = run(rules, [(1, "t", "u", 1)])
    assert tags == [[b"Z=x", b"a=", b"z=\xc3\xbc", b"\xc3\xa9=1"]]


def test_identical_tag_sets_are_shared():
    rules = (
        '{"tag":[{"when":{"field":"value","op":"lt","value":10},"set":{"t":"a"}},'
        '{"when":{"field":"type","op":"eq","value":"k"},"set":{"t":"a"}}]}'
    )
    engine = Engine(parse_rules(rules))
    out = engine.apply(**columns([(1, "k", "u", 1), (2, "k", "u", 50), (3, "j", "u", 1), (4, "j", "u", 50)]))
    # codes 0b11, 0b10, 0b01 give one set {t=a}; code 0 gives the empty set
    assert sorted(out.tag_sets) == [(), (b"t=a",)]
    idx = np.frombuffer(out.tag_set_index, "<u4").tolist()
    assert idx[0] == idx[1] == idx[2] != idx[3]


def test_no_tag_rules_means_empty_sets():
    out = Engine(parse_rules('{"drop":[]}')).apply(**columns([(1, "a", "u", 1), (2, "b", "u", 2)]))
    assert out.tag_sets == [()] and np.frombuffer(out.tag_set_index, "<u4").tolist() == [0, 0]
    assert out.dropped == 0


def test_columns_pass_through_untouched_when_nothing_dropped():
    cols = columns([(1, "a", "u", 1), (2, "b", "u", 2)])
    out = Engine(parse_rules('{"drop":[{"field":"type","op":"eq","value":"zz"}]}')).apply(**cols)
    assert (out.ts_seconds, out.value, out.type_index, out.user_index) == (cols["ts_seconds"], cols["value"], cols["type_index"], cols["user_index"])


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(value=b"\0" * 4), "column value has 4 bytes, expected 8 for 2 events"),
        (dict(ts_seconds=b"\0" * 15), "column ts_seconds has 15 bytes, expected 16 for 2 events"),
        (dict(type_index=b""), "column type_index has 0 bytes, expected 8 for 2 events"),
        (dict(user_index=b"\0" * 12), "column user_index has 12 bytes, expected 8 for 2 events"),
        (dict(type_index=np.array([0, 2], "<u4").tobytes()), "type_index holds 2, but type_dict has 2 entries"),
        (dict(user_index=np.array([7, 0], "<u4").tobytes()), "user_index holds 7, but user_dict has 1 entries"),
        (dict(count=3), "column ts_seconds has 16 bytes, expected 24 for 3 events"),
    ],
)
def test_malformed_columns(bad, message):
    cols = columns([(1, "a", "u", 1), (2, "b", "u", 2)])
    cols.update(bad)
    with pytest.raises(BatchError) as e:
        Engine(DEFAULT_RULES).apply(**cols)
    assert str(e.value) == message


def random_condition(rnd, strings):
    field = rnd.choice(["type", "user", "value"])
    if field == "value":
        op = rnd.choice(["eq", "ne", "lt", "lte", "gt", "gte", "in"])
        pick = lambda: rnd.choice([0, 1, -1, 99, 100, 101, I32_MIN, I32_MAX, 2**40, -(2**40), rnd.randint(-200, 200)])
        value = [pick() for _ in range(rnd.randint(0, 12))] if op == "in" else pick()
        return {"field": field, "op": op, "value": value}
    op = rnd.choice(["eq", "ne", "lt", "lte", "gt", "gte", "in", "prefix"])
    if op == "in":
        value = [rnd.choice(strings) for _ in range(rnd.randint(0, 4))]
    elif op == "prefix":
        value = rnd.choice(strings)[: rnd.randint(0, 3)]
    else:
        value = rnd.choice(strings)
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize("ntags", [0, 1, 2, 3, 4, 8, 12, 13, 40, 70])
def test_matches_a_plain_reference_on_random_rules(ntags):
    import json

    rnd = random.Random(ntags)
    strings = ["", "a", "ab", "abc", "b", "é", "éa", "z", "\uff5e", "\U0001f600", "view", "click", "A"]
    for round_ in range(8):
        raw = {
            "drop": [random_condition(rnd, strings) for _ in range(rnd.randint(0, 3))],
            "tag": [
                {"when": random_condition(rnd, strings), "set": {rnd.choice(["t", "u", "é", "v-w", "x"]): rnd.choice(strings) for _ in range(rnd.randint(1, 3))}}
                for _ in range(ntags)
            ],
        }
        rules = parse_rules(json.dumps(raw))
        events = [
            (rnd.randint(-(2**40), 2**40), rnd.choice(strings), rnd.choice(strings), rnd.choice([I32_MIN, I32_MAX, 0, 100, 99, rnd.randint(-300, 300)]))
            for _ in range(rnd.randint(0, 400))
        ]
        engine = Engine(rules)
        assert run(engine, events) == reference(rules, events), (round_, raw)
        assert run(engine, events) == reference(rules, events)  # again, with the tag-set cache warm


@pytest.mark.parametrize("entries", [1, 2, 4, 7, 50])
def test_per_event_verdicts_equal_the_plain_gather(entries):
    """engine._per_event (comparisons for few hits or few misses, else a gather) against
    verdicts[index], for every number of hits."""
    from rules_service.engine import _per_event

    rng = np.random.default_rng(entries)
    index = rng.integers(0, entries, 1000).astype("<u4")
    for hits in range(entries + 1):
        verdicts = np.zeros(entries, dtype=bool)
        verdicts[rng.permutation(entries)[:hits]] = True
        got = _per_event(verdicts, index, lambda: index.astype(np.intp))
        assert got.dtype == bool and got.shape == (1000,)
        assert np.array_equal(got, verdicts[index]), (entries, hits)
