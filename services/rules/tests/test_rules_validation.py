"""Rules loading: every error case of checkRules (pipeline/src/rules.ts) with its message.

checkrules_cases.json holds rules texts with the result the TypeScript checkRules gave for them
(JSON.parse + checkRules run under Node when the table was made): either the error message or
the checked rules as JSON.stringify wrote them."""

import json
import os

import pytest

from rules_service import jsjson
from rules_service.rules import DEFAULT_RULES, Condition, RulesError, TagRule, check_rules, parse_rules

CASES = json.load(open(os.path.join(os.path.dirname(__file__), "checkrules_cases.json"), encoding="utf-8"))


def as_plain(r):
    return {
        "drop": [{"field": c.field, "op": c.op, "value": c.value} for c in r.drop],
        "tag": [{"when": {"field": t.when.field, "op": t.when.op, "value": t.when.value}, "set": t.set} for t in r.tag],
        "windowSeconds": r.window_seconds,
    }


@pytest.mark.parametrize("case", CASES, ids=[c["rules"][:60] for c in CASES])
def test_matches_typescript_checkrules(case):
    if "error" in case:
        with pytest.raises(RulesError) as e:
            check_rules(jsjson.parse(case["rules"]))
        assert str(e.value) == case["error"]
    else:
        assert json.dumps(as_plain(check_rules(jsjson.parse(case["rules"])))) == json.dumps(case["parsed"])


def err(text):
    with pytest.raises(RulesError) as e:
        parse_rules(text)
    return str(e.value)


# The error cases of checkRules, one by one, written out (the table above has more variants).
def test_each_error_case_by_hand():
    assert err("[1]") == "rules must be a JSON object, got [1]"
    assert err('{"drops":[]}') == 'unknown key "drops" (expected drop, tag, windowSeconds)'
    assert err('{"drop":{}}') == '"drop" must be an array, got {}'
    assert err('{"tag":1}') == '"tag" must be an array, got 1'
    assert err('{"drop":["x"]}') == 'drop[0]: condition must be an object, got "x"'
    assert err('{"drop":[{"field":"type","op":"eq","value":"a","x":1}]}') == 'drop[0]: unknown key "x" in condition'
    assert err('{"drop":[{"field":"kind","op":"eq","value":"a"}]}') == 'drop[0]: unknown field "kind" (expected type, user or value)'
    assert err('{"drop":[{"op":"eq","value":"a"}]}') == "drop[0]: unknown field undefined (expected type, user or value)"
    assert err('{"drop":[{"field":"type","op":"foo","value":"a"}]}') == 'drop[0]: unknown op "foo" (expected eq, ne, lt, lte, gt, gte, in or prefix)'
    assert err('{"drop":[{"field":"type","op":"eq"}]}') == 'drop[0]: condition has no "value"'
    assert err('{"drop":[{"field":"type","op":"in","value":"a"}]}') == 'drop[0]: op "in" needs an array, got "a"'
    assert err('{"drop":[{"field":"type","op":"in","value":["a",1]}]}') == 'drop[0]: field "type" needs a string, got 1'
    assert err('{"drop":[{"field":"value","op":"prefix","value":"1"}]}') == 'drop[0]: op "prefix" works on strings only, not on field "value"'
    assert err('{"drop":[{"field":"user","op":"prefix","value":1}]}') == 'drop[0]: op "prefix" needs a string, got 1'
    assert err('{"drop":[{"field":"value","op":"eq","value":1.5}]}') == 'drop[0]: field "value" needs an integer, got 1.5'
    assert err('{"drop":[{"field":"user","op":"eq","value":null}]}') == 'drop[0]: field "user" needs a string, got null'
    assert err('{"tag":[7]}') == "tag[0]: rule must be an object, got 7"
    assert err('{"tag":[{"when":{"field":"type","op":"eq","value":"a"},"set":{},"else":1}]}') == 'tag[0]: unknown key "else"'
    assert err('{"tag":[{"set":{}}]}') == "tag[0]: condition must be an object, got undefined"
    assert err('{"tag":[{"when":{"field":"type","op":"eq","value":"a"},"set":["t"]}]}') == 'tag[0]: "set" must be an object of strings, got ["t"]'
    assert err('{"tag":[{"when":{"field":"type","op":"eq","value":"a"},"set":{"t":1}}]}') == 'tag[0]: tag "t" needs a string value, got 1'
    assert err('{"windowSeconds":0}') == '"windowSeconds" must be a positive integer, got 0'
    assert err('{"windowSeconds":"60"}') == '"windowSeconds" must be a positive integer, got "60"'


def test_integral_floats_are_integers_like_in_javascript():
    r = parse_rules('{"drop":[{"field":"value","op":"eq","value":100.0}],"windowSeconds":3.6e3}')
    assert r.drop == [Condition("value", "eq", 100)] and type(r.drop[0].value) is int
    assert r.window_seconds == 3600
    assert parse_rules('{"drop":[{"field":"value","op":"in","value":[-9007199254740991, 9007199254740991]}]}').drop[0].value == [
        -(2**53 - 1),
        2**53 - 1,
    ]
    # 2^53 is not a safe integer; 9007199254740993 parses to 2^53 as in JavaScript
    assert err('{"drop":[{"field":"value","op":"eq","value":9007199254740993}]}') == 'drop[0]: field "value" needs an integer, got 9007199254740992'
    assert err('{"drop":[{"field":"value","op":"eq","value":1e400}]}') == 'drop[0]: field "value" needs an integer, got null'
    assert err('{"drop":[{"field":"value","op":"eq","value":true}]}') == 'drop[0]: field "value" needs an integer, got true'


def test_empty_text_means_default_rules():
    assert parse_rules("") is DEFAULT_RULES
    assert DEFAULT_RULES.drop == [Condition("type", "eq", "view")]
    assert DEFAULT_RULES.tag == [TagRule(Condition("value", "gte", 100), {"tier": "high"}), TagRule(Condition("value", "lt", 100), {"tier": "low"})]
    assert DEFAULT_RULES.window_seconds == 60


def test_null_drop_tag_and_window_mean_defaults():
    r = parse_rules('{"drop":null,"tag":null,"windowSeconds":null}')
    assert (r.drop, r.tag, r.window_seconds) == ([], [], 60)


def test_not_json():
    assert err("{").startswith("rules_json is not valid JSON: ")
    assert err(" ").startswith("rules_json is not valid JSON: ")
    for text in ('{"windowSeconds":NaN}', '{"windowSeconds":Infinity}', '{"windowSeconds":-Infinity}', "{} x", "{'a':1}", "[01]"):
        assert err(text).startswith("rules_json is not valid JSON: "), text
    assert err("[" * 100000 + "]").startswith("rules_json is not valid JSON: ")


def test_deeply_nested_json_is_parsed_like_json_parse():
    # JSON.parse has no depth limit; Python's json module has: an iterative fallback takes over.
    deep = "[" * 100000 + "]" * 100000
    assert err(deep) == "rules must be a JSON object, got " + "[" * 77 + "..."
    assert err('{"drop":[{"field":"value","op":"eq","value":' + deep + "}]}") == 'drop[0]: field "value" needs an integer, got ' + "[" * 77 + "..."
    text = '{"tag":[{"when":{"field":"type","op":"in","value":["a","b"]},"set":{"t":"x","t":"y"}}],"windowSeconds":1e1}'
    assert jsjson._parse_deep(text) == jsjson.parse(text)
    for bad in ("[1,]", '{"a":1,}', "{a:1}", "[1 2]", "[", '{"a"}', '["\x01"]', "tru", "[1]x", "-", "01", "[NaN]", "[1.]"):
        with pytest.raises(jsjson.JsonSyntaxError):
            jsjson._parse_deep(bad)


def test_duplicate_keys_take_the_last_value():
    r = parse_rules('{"tag":[{"when":{"field":"type","op":"eq","value":"a"},"set":{"t":"x","u":"1","t":"y"}}]}')
    assert r.tag[0].set == {"t": "y", "u": "1"}


def test_number_to_string_like_javascript():
    n = jsjson.number_to_string
    assert [n(x) for x in (0.0, -0.0, 1.0, 100.0, 1.5, -2.25, 1e21, 1e20, 123e20, 1e16, 1e-6, 1e-7, 1.5e-7, 5e-324, 0.1, 1.7976931348623157e308)] == [
        "0", "0", "1", "100", "1.5", "-2.25", "1e+21", "100000000000000000000", "1.23e+22", "10000000000000000",
        "0.000001", "1e-7", "1.5e-7", "5e-324", "0.1", "1.7976931348623157e+308",
    ]


def test_show_cuts_at_80_utf16_units():
    assert jsjson.show("a" * 78) == '"' + "a" * 78 + '"'
    assert jsjson.show("a" * 79) == '"' + "a" * 76 + "..."
    assert jsjson.show(jsjson.UNDEFINED) == "undefined"
    assert jsjson.show({"b": 1.0, "10": None, "2": [True]}) == '{"2":[true],"10":null,"b":1}'
