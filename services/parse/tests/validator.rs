//! The validator against the hand-written §4.2 edge cases of pipeline/test/edge-cases.ts and
//! validator.test.ts (same lines, same expected verdicts), the ts grammar and conversion, the
//! line framing and the canonical output helpers of --check-file.

use parse::checkfile::{LineSink, format_utc, frame_reader, json_string};
use parse::validate::{Event, MAX_LINE_BYTES, Reason, Validator, parse_ts};

const T0: &str = "2026-01-01T00:00:10Z";
const T0_EPOCH: i64 = 1767225610;

fn ev(ts: &str, t: &str, u: &str, v: &str, extra: &str) -> String {
    format!(r#"{{"ts":"{ts}","type":"{t}","user":"{u}","value":{v}{extra}}}"#)
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Valid { epoch: i64, value: i32, type_: Vec<u8>, user: Vec<u8> },
    Json,
    Event,
}

fn check(line: &[u8]) -> Verdict {
    // Validate inside a larger buffer, as the stage does, so vector loads may run past the line.
    let mut buf = line.to_vec();
    buf.extend_from_slice(b"\n{\"\\\"}]  trailing bytes of the next line \"\n");
    let mut v = Validator::new();
    match v.validate(&buf, 0, line.len()) {
        Ok(e) => {
            let e: Event = e;
            Verdict::Valid {
                epoch: e.epoch,
                value: e.value,
                type_: v.type_bytes(&buf, &e).to_vec(),
                user: v.user_bytes(&buf, &e).to_vec(),
            }
        }
        Err(i) if i.reason == Reason::InvalidJson => Verdict::Json,
        Err(_) => Verdict::Event,
    }
}

fn valid(line: &str) -> bool {
    matches!(check(line.as_bytes()), Verdict::Valid { .. })
}

#[track_caller]
fn expect(line: &[u8], want: &str) {
    let got = match check(line) {
        Verdict::Valid { .. } => "valid",
        Verdict::Json => "invalid_json",
        Verdict::Event => "invalid_event",
    };
    assert_eq!(got, want, "line {:?}", String::from_utf8_lossy(line));
}

#[test]
fn extracts_the_four_fields_decoded() {
    let line = r#"{"value":-0,"user":"u\u00e9","type":"a\"b","ts":"2026-01-01T00:00:00.5+01:00","x":[1e400]}"#;
    assert_eq!(
        check(line.as_bytes()),
        Verdict::Valid { epoch: 1767222000, value: 0, type_: b"a\"b".to_vec(), user: "ué".as_bytes().to_vec() }
    );
    assert_eq!(
        check(ev(T0, "click", "u1", "5", "").as_bytes()),
        Verdict::Valid { epoch: T0_EPOCH, value: 5, type_: b"click".to_vec(), user: b"u1".to_vec() }
    );
}

#[test]
fn json_errors_win_over_event_errors() {
    expect(br#"{"ts":"x","ts":"y",}"#, "invalid_json");
    expect(br#"{"ts":1,"type":"a","user":"b","value":1.5} x"#, "invalid_json");
}

#[test]
fn unicode_escapes_and_surrogate_pairs_are_decoded() {
    let line = format!(r#"{{"ts":"{T0}","t\u0079pe":"\u0063lick","user":"u\ud83d\ude00","value":7}}"#);
    assert_eq!(
        check(line.as_bytes()),
        Verdict::Valid { epoch: T0_EPOCH, value: 7, type_: b"click".to_vec(), user: "u😀".as_bytes().to_vec() }
    );
    assert!(valid(&ev(T0, "click", "u😀", "8", "")));
    // Escaped ts is decoded before it is parsed.
    let line = r#"{"ts":"\u0032026-01-01T00:00:10Z","type":"click","user":"u1","value":1}"#;
    assert_eq!(
        check(line.as_bytes()),
        Verdict::Valid { epoch: T0_EPOCH, value: 1, type_: b"click".to_vec(), user: b"u1".to_vec() }
    );
}

#[test]
fn lone_surrogate_escapes_are_invalid_json() {
    for u in [r"u\ud800", r"u\udc00", r"u\ud800\u0041", r"u\ude00\ud83d", r"u\ud800\u", r"\ud83d\ude0"] {
        expect(ev(T0, "click", u, "1", "").as_bytes(), "invalid_json");
    }
}

#[test]
fn invalid_utf8_is_invalid_json() {
    let bads: [&[u8]; 9] = [
        &[0xff],
        &[0xc0, 0xaf],
        &[0xed, 0xa0, 0x80],
        &[0xc3],
        &[0xf5, 0x80, 0x80, 0x80],
        &[0xe2, 0x82],
        &[0xe0, 0x80, 0x80],
        &[0xf0, 0x80, 0x80, 0x80],
        &[0xf4, 0x90, 0x80, 0x80],
    ];
    for bad in bads {
        let mut line = format!(r#"{{"ts":"{T0}","type":"click","user":"u"#).into_bytes();
        line.extend_from_slice(bad);
        line.extend_from_slice(br#"","value":1}"#);
        expect(&line, "invalid_json");
    }
    // Invalid UTF-8 outside strings, and in a key.
    expect(&[b'{', 0xc3, 0xa9, b'}'], "invalid_json");
    let mut line = b"{\"k".to_vec();
    line.extend_from_slice(&[0xff]);
    line.extend_from_slice(b"\":1}");
    expect(&line, "invalid_json");
    // Valid multi-byte sequences of every length.
    for u in ["é", "€", "😀", "\u{10FFFF}", "\u{FFFF}", "\u{800}"] {
        assert!(valid(&ev(T0, "click", u, "2", "")), "{u}");
    }
}

#[test]
fn ts_offsets_and_fractions() {
    let cases = [
        ("2026-01-01T00:30:00+01:00", "valid"),
        ("2026-01-01T23:59:30-00:30", "valid"),
        ("2026-01-01T00:00:00+24:00", "invalid_event"),
        ("2026-01-01T00:00:00+02:60", "invalid_event"),
        ("2026-01-01T00:00:00-23:59", "valid"),
        ("2026-01-01T00:00:59.999999999Z", "valid"),
        ("2026-01-01T00:01:00.1Z", "valid"),
        ("2026-01-01T00:01:00.1234567890Z", "invalid_event"),
        ("2026-01-01T00:01:00.Z", "invalid_event"),
        ("1969-12-31T23:59:59.5Z", "valid"),
        ("2024-02-29T12:00:00Z", "valid"),
        ("2000-02-29T00:00:00Z", "valid"),
        ("2025-02-29T00:00:00Z", "invalid_event"),
        ("1900-02-29T00:00:00Z", "invalid_event"),
        ("2026-02-29T00:00:00Z", "invalid_event"),
        ("2026-02-30T10:00:00Z", "invalid_event"),
        ("2026-13-01T10:00:00Z", "invalid_event"),
        ("2026-01-05T24:00:00Z", "invalid_event"),
        ("2026-01-05t10:00:00Z", "invalid_event"),
        ("2026-01-05T10:00:00z", "invalid_event"),
        ("2026-01-05T10:60:00Z", "invalid_event"),
        ("2026-01-05T10:00:60Z", "invalid_event"),
        ("2026-00-10T10:00:00Z", "invalid_event"),
        ("2026-01-05T10:00:00", "invalid_event"),
        ("2026-01-05 10:00:00Z", "invalid_event"),
        ("0001-01-01T00:00:30Z", "valid"),
        ("9999-12-31T23:59:59.9Z", "valid"),
        ("0000-01-01T00:00:00Z", "valid"),
        ("2026-01-01T00:00:00+1:00", "invalid_event"),
        ("2026-01-01T00:00:00Z ", "invalid_event"),
        ("2026-01-01T00:00:00+01:00Z", "invalid_event"),
        ("2026-1-01T00:00:00Z", "invalid_event"),
        ("", "invalid_event"),
    ];
    for (ts, want) in cases {
        expect(ev(ts, "click", "u1", "1", "").as_bytes(), want);
    }
    // Not a string.
    expect(br#"{"ts":1767225610,"type":"click","user":"u1","value":1}"#, "invalid_event");
    // Full-width digit (valid JSON, not a ts).
    expect(ev("２026-01-01T00:00:00Z", "click", "u1", "1", "").as_bytes(), "invalid_event");
}

#[test]
fn ts_conversion() {
    let cases: [(&str, i64); 14] = [
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("1969-12-31T23:59:59.5Z", -1),
        ("2026-01-01T00:00:00+01:00", 1767222000),
        ("2024-02-29T00:00:00Z", 1709164800),
        ("0001-01-01T00:00:00Z", -62135596800),
        ("9999-12-31T23:59:59-23:59", 253402387139),
        ("2026-01-01T00:00:10Z", T0_EPOCH),
        ("2026-01-01T00:30:00+01:00", 1767223800),
        ("2026-01-01T23:59:30-00:30", 1767313770),
        ("2026-01-01T00:00:00-23:59", 1767311940),
        ("1970-01-01T00:00:30+01:00", -3570),
        ("2000-02-29T00:00:00Z", 951782400),
        ("0000-01-01T00:00:00+00:01", -62167219260),
    ];
    for (ts, epoch) in cases {
        assert_eq!(parse_ts(ts.as_bytes()), Some(epoch), "{ts}");
    }
    for ts in ["2026-02-29T00:00:00Z", "2026-01-01T00:00:00+1:00", "2026-01-01T00:00:00Z ", "2026-01-01T00:00:00.Z"] {
        assert_eq!(parse_ts(ts.as_bytes()), None, "{ts}");
    }
    // Every day of a leap and a common year round-trips through format_utc.
    for year in [2023i64, 2024] {
        let mut epoch = parse_ts(format!("{year}-01-01T00:00:00Z").as_bytes()).unwrap();
        for _ in 0..(if year == 2024 { 366 } else { 365 }) {
            let s = format_utc(epoch);
            assert_eq!(parse_ts(s.as_bytes()), Some(epoch), "{s}");
            epoch += 86400;
        }
        assert_eq!(format_utc(epoch), format!("{}-01-01T00:00:00Z", year + 1));
    }
}

#[test]
fn int32_limits_and_number_forms() {
    for (v, want) in [
        ("2147483647", "valid"),
        ("-2147483648", "valid"),
        ("2147483648", "invalid_event"),
        ("-2147483649", "invalid_event"),
        ("99999999999", "invalid_event"),
        ("123456789012345678901234567890", "invalid_event"),
        ("-0", "valid"),
        ("0", "valid"),
        ("42.0", "invalid_event"),
        ("4.2e1", "invalid_event"),
        ("1e400", "invalid_event"),
        ("1E2", "invalid_event"),
        ("-0.0", "invalid_event"),
        ("42", "valid"),
        ("042", "invalid_json"),
        ("+1", "invalid_json"),
        ("1.", "invalid_json"),
        (".5", "invalid_json"),
        ("1e", "invalid_json"),
        ("1e+", "invalid_json"),
        ("-", "invalid_json"),
        ("-a", "invalid_json"),
        ("NaN", "invalid_json"),
        ("Infinity", "invalid_json"),
        ("-Infinity", "invalid_json"),
        ("\"1\"", "invalid_event"),
        ("null", "invalid_event"),
        ("[1]", "invalid_event"),
        ("{}", "invalid_event"),
        ("tru", "invalid_json"),
    ] {
        expect(ev(T0, "click", "u1", v, "").as_bytes(), want);
    }
    assert_eq!(
        check(ev(T0, "c", "u", "-2147483648", "").as_bytes()),
        Verdict::Valid { epoch: T0_EPOCH, value: i32::MIN, type_: b"c".to_vec(), user: b"u".to_vec() }
    );
    assert!(matches!(check(ev(T0, "c", "u", "-0", "").as_bytes()), Verdict::Valid { value: 0, .. }));
}

#[test]
fn duplicate_keys_among_the_four_fields() {
    expect(ev(T0, "click", "u1", "1", &format!(r#","ts":"{T0}""#)).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","type":"click""#).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","user":"u1""#).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","value":1"#).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","\u0076alue":1"#).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","value":"x""#).as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", "1", r#","ts":null"#).as_bytes(), "invalid_event");
    // Other keys may repeat; case matters.
    expect(ev(T0, "click", "u1", "3", r#","metadata":{},"metadata":[1],"Value":"x""#).as_bytes(), "valid");
    // A duplicate followed by a JSON error is invalid_json.
    expect(ev(T0, "click", "u1", "1", r#","value":1,"#).as_bytes(), "invalid_json");
}

#[test]
fn missing_mistyped_and_empty_fields() {
    for line in [
        r#"{"type":"click","user":"u1","value":1}"#.to_string(),
        format!(r#"{{"ts":"{T0}","user":"u1","value":1}}"#),
        format!(r#"{{"ts":"{T0}","type":"click","value":1}}"#),
        format!(r#"{{"ts":"{T0}","type":"click","user":"u1"}}"#),
        ev(T0, "click", "u1", "\"1\"", ""),
        ev(T0, "", "u1", "1", ""),
        ev(T0, "click", "", "1", ""),
        format!(r#"{{"ts":"{T0}","type":null,"user":"u1","value":1}}"#),
        format!(r#"{{"ts":"{T0}","type":["a"],"user":"u1","value":1}}"#),
        format!(r#"{{"ts":"{T0}","type":"a","user":{{"a":1}},"value":1}}"#),
    ] {
        expect(line.as_bytes(), "invalid_event");
    }
    // An escape that decodes to a non-empty string is not empty.
    expect(ev(T0, r"\u0000", "u1", "1", "").as_bytes(), "valid");
}

#[test]
fn nesting_depth_64_is_valid_65_is_invalid_json() {
    let arr = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let obj = |n: usize| format!("{}0{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    expect(ev(T0, "click", "u1", "1", &format!(",\"metadata\":{}", arr(63))).as_bytes(), "valid");
    expect(ev(T0, "click", "u1", "1", &format!(",\"metadata\":{}", arr(64))).as_bytes(), "invalid_json");
    expect(ev(T0, "click", "u1", "1", &format!(",\"metadata\":{}", obj(63))).as_bytes(), "valid");
    expect(ev(T0, "click", "u1", "1", &format!(",\"metadata\":{}", obj(64))).as_bytes(), "invalid_json");
    expect(arr(64).as_bytes(), "invalid_event");
    expect(arr(65).as_bytes(), "invalid_json");
    // The value field counts the same way.
    expect(ev(T0, "click", "u1", &arr(63), "").as_bytes(), "invalid_event");
    expect(ev(T0, "click", "u1", &arr(64), "").as_bytes(), "invalid_json");
    // Very deep input fails without exhausting the stack.
    expect(arr(100_000).as_bytes(), "invalid_json");
}

#[test]
fn json_that_is_not_an_object_is_an_invalid_event() {
    for line in ["[1]", "42", "\"s\"", "null", "true", "false", "{}", " [ ] ", "-0", "\t{}\r"] {
        expect(line.as_bytes(), "invalid_event");
    }
}

#[test]
fn broken_json_syntax() {
    let t = ev(T0, "click", "u1", "1", "");
    for line in [
        "{".to_string(),
        r#"{"ts":}"#.to_string(),
        "{'ts':'x'}".to_string(),
        format!("{t},"),
        format!("{t} x"),
        ev(T0, "cl\tick", "u1", "1", ""),
        ev(T0, r"cl\xick", "u1", "1", ""),
        format!("\u{feff}{t}"),
        format!(r#"{{"ts":"{T0}" "type":"click"}}"#),
        "nul".to_string(),
        "".to_string(),
        "   ".to_string(),
        "\u{c}{}".to_string(),
        r#"{"a":1,}"#.to_string(),
        r#"{,}"#.to_string(),
        r#"{"a" 1}"#.to_string(),
        r#"[1,]"#.to_string(),
        r#"[1 2]"#.to_string(),
        r#"{"a":"b"#.to_string(),
        r#"{"a":"b\"#.to_string(),
        r#"{"a":"\u12"}"#.to_string(),
        r#"{"a":"\u12G4"}"#.to_string(),
        r#"{"a":"\q"}"#.to_string(),
        r#"{"a":True}"#.to_string(),
        r#"{"a":nulll}"#.to_string(),
        r#"{"a":[}"#.to_string(),
        r#"{} {}"#.to_string(),
        r#"{1:2}"#.to_string(),
    ] {
        expect(line.as_bytes(), "invalid_json");
    }
}

#[test]
fn whitespace_and_escapes() {
    expect(
        format!(" \t\r{{ \"ts\" :\t\"{T0}\" , \"type\":\"a\",\"user\":\"b\",\"value\": 1 }}\r\t ").as_bytes(),
        "valid",
    );
    let line = ev(T0, r#"a\"b\\c\/d"#, r"u\u0001\n\t\u001f\u007f", "1", "");
    assert_eq!(
        check(line.as_bytes()),
        Verdict::Valid {
            epoch: T0_EPOCH,
            value: 1,
            type_: br#"a"b\c/d"#.to_vec(),
            user: b"u\x01\n\t\x1f\x7f".to_vec()
        }
    );
    // Long strings (vector path) with specials at every position around 16-byte boundaries.
    for n in 0..40 {
        let s = "x".repeat(n);
        assert!(valid(&ev(T0, &format!("t{s}"), &format!("{s}é{s}"), "1", &format!(",\"m\":\"{s}\\n{s}\""))));
        let mut line = ev(T0, "t", &s, "1", "").into_bytes();
        let at = line.len() - 12; // inside the user string or just before it
        line.insert(at, 0x01);
        assert!(!matches!(check(&line), Verdict::Valid { .. }));
    }
}

#[test]
fn fuzz_lines_from_the_reference_corpus_shape() {
    // Mutations of the three base lines of pipeline/test/fuzz-lines.ts: whatever the verdict,
    // the validator never panics and never reads past the line.
    let bases = [
        r#"{"ts":"2026-01-01T00:00:10Z","type":"click","user":"u1","value":5}"#,
        r#"{"ts":"2026-03-01T10:20:30.123+05:30","type":"v\u00e9","user":"u\ud83d\ude00","value":-2147483648,"metadata":{"a":[1,2.5e3,true,null,"x"]}}"#,
        r#"{"value":0,"user":"é","type":"t","ts":"2024-02-29T23:59:59-23:59","m":[]}"#,
    ];
    for b in bases {
        assert!(valid(b), "{b}");
    }
    let alphabet: Vec<char> = "0123456789-:T+.Z{}[]\":,.-+eE0123456789 \t\\/ubfnrtTZ:xaNIé".chars().collect();
    let mut seed: u64 = 42;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..20000 {
        let mut s: Vec<char> = bases[rnd(3)].chars().collect();
        for _ in 0..rnd(4) {
            let p = rnd(s.len() + 1);
            let ch = alphabet[rnd(alphabet.len())];
            match rnd(3) {
                0 => s.insert(p, ch),
                1 if p < s.len() => {
                    s.remove(p);
                }
                _ if p < s.len() => s[p] = ch,
                _ => {}
            }
        }
        let line: String = s.into_iter().collect();
        let _ = check(line.as_bytes());
        // Truncations of the line must never panic either.
        let b = line.as_bytes();
        let mut v = Validator::new();
        for cut in [b.len() / 2, b.len().saturating_sub(1)] {
            let _ = v.validate(b, 0, cut);
        }
    }
}

struct Collect(Vec<(u64, String)>);

impl LineSink for Collect {
    fn line(&mut self, buf: &[u8], start: usize, end: usize, line_no: u64) {
        self.0.push((line_no, String::from_utf8_lossy(&buf[start..end]).into_owned()));
    }
    fn oversize(&mut self, line_no: u64) {
        self.0.push((line_no, "OVERSIZE".into()));
    }
}

fn frame(input: &[u8]) -> (u64, Vec<(u64, String)>) {
    let mut c = Collect(Vec::new());
    let (n, bytes) = frame_reader(&mut &input[..], &mut c).unwrap();
    assert_eq!(bytes, input.len() as u64);
    (n, c.0)
}

#[test]
fn line_framing() {
    let (n, seen) = frame(b"a\r\n\n \t\r\nb\r\r\nc");
    assert_eq!(n, 5);
    assert_eq!(seen, vec![(1, "a".into()), (4, "b\r".into()), (5, "c".into())]);
    assert_eq!(frame(b""), (0, vec![]));
    assert_eq!(frame(b"\n\n"), (2, vec![]));
    assert_eq!(frame(b"x\n"), (1, vec![(1, "x".into())]));
}

#[test]
fn the_1_mib_limit_ignores_a_trailing_cr_and_blank_lines_are_blank_at_any_length() {
    let sized = |total: usize| {
        let head = format!(r#"{{"ts":"{T0}","type":"click","user":"u1","value":1,"metadata":""#);
        format!("{head}{}\"}}", "x".repeat(total - head.len() - 2))
    };
    let mut input = String::new();
    input += &(sized(MAX_LINE_BYTES) + "\r\n");
    input += &(" \t".repeat(600 * 1024) + "\r\n");
    input += &(sized(MAX_LINE_BYTES - 1) + "\r\r\n");
    input += &(sized(MAX_LINE_BYTES + 1) + "\r\n");
    input += &(" ".repeat(2 * 1024 * 1024) + "x\n");
    input += &(sized(MAX_LINE_BYTES + 1) + "\n");
    input += &" ".repeat(3 * 1024 * 1024);
    input += "\n";
    input += &"y".repeat(9 * 1024 * 1024); // longer than one 8 MiB read, no newline at the end
    let (n, seen) = frame(input.as_bytes());
    assert_eq!(n, 8);
    let kinds: Vec<(u64, bool)> = seen.iter().map(|(no, s)| (*no, s == "OVERSIZE")).collect();
    assert_eq!(kinds, vec![(1, false), (3, false), (4, true), (5, true), (6, true), (8, true)]);
    assert!(valid(&seen[0].1));
    assert!(valid(&seen[1].1)); // the second \r is JSON whitespace
}

#[test]
fn canonical_output_helpers() {
    let mut out = Vec::new();
    json_string(&mut out, "a\"b\\c\u{0}\u{1f}\u{7f}/é😀".as_bytes());
    assert_eq!(String::from_utf8(out).unwrap(), "\"a\\\"b\\\\c\\u0000\\u001f\u{7f}/é😀\"");
    assert_eq!(format_utc(-60), "1969-12-31T23:59:00Z");
    assert_eq!(format_utc(951782400), "2000-02-29T00:00:00Z");
    assert_eq!(format_utc(-62135596800), "0001-01-01T00:00:00Z");
}

// ---- The fast path (Validator::validate_fast / validate_line) against the full scanner ----

/// What the full scanner says about `line`, and what the fast path and `validate_line` say,
/// each inside a buffer with more bytes after the line (vector loads read past it). The fast
/// path may decline (None), but when it answers it must be exactly the full scanner's valid
/// event; `validate_line` must always be exactly the full scanner's verdict.
#[track_caller]
fn fast_agrees(line: &[u8]) -> bool {
    let mut buf = line.to_vec();
    buf.extend_from_slice(b"\n{\"ts\":\"\\\"}]  \"value\":1 trailing bytes of the next line \"\n");
    let mut full = Validator::new();
    let want = full.validate_full(&buf, 0, line.len());
    let mut fast = Validator::new();
    let got = fast.validate_fast(&buf, 0, line.len());
    let shown = String::from_utf8_lossy(line);
    if let Some(ev) = got {
        let Ok(w) = want else { panic!("fast path accepted a line the full scanner rejects: {shown:?} ({want:?})") };
        assert_eq!(ev, w, "fast path event differs: {shown:?}");
        assert_eq!(fast.type_bytes(&buf, &ev), full.type_bytes(&buf, &w), "type differs: {shown:?}");
        assert_eq!(fast.user_bytes(&buf, &ev), full.user_bytes(&buf, &w), "user differs: {shown:?}");
    }
    // validate_line needs the line to end with '\n' and must not see one inside it.
    if !line.contains(&b'\n') {
        let mut lv = Validator::new();
        let (nl, v) = lv.validate_line(&buf, 0);
        assert_eq!(nl, line.len(), "validate_line found the wrong end: {shown:?}");
        match (&v, &want) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.epoch, b.epoch, "{shown:?}");
                assert_eq!(a.value, b.value, "{shown:?}");
                assert_eq!(lv.type_bytes(&buf, a), full.type_bytes(&buf, b), "{shown:?}");
                assert_eq!(lv.user_bytes(&buf, a), full.user_bytes(&buf, b), "{shown:?}");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "validate_line verdict differs: {shown:?}"),
            _ => panic!("validate_line {v:?} but full scanner {want:?}: {shown:?}"),
        }
    }
    got.is_some()
}

/// Lines of the generator's shapes (and close relatives) that the fast path must take itself.
const FAST_SHAPES: &[&str] = &[
    r#"{"ts":"2026-01-01T21:18:57Z","type":"click","user":"u008150","value":190,"metadata":{"src":"ios","session":278596}}"#,
    r#"{"ts":"2026-01-01T02:33:18.88626221Z","type":"add_to_cart","user":"u003250","value":204,"metadata":{"src":"android","session":979336}}"#,
    r#"{"ts":"2026-01-01T20:02:43+09:00","type":"click","user":"u000157","value":31,"metadata":{"src":"web","geo":{"lat":-60,"lon":80}}}"#,
    r#"{"ts":"2026-01-01T23:26:09Z","type":"click","user":"u003769","value":-76,"metadata":{"src":"web","ab":false,"page":"/p/539"}}"#,
    r#"{"ts":"2026-01-01T23:26:09.1-00:30","type":"view","user":"u1","value":0,"metadata":{"tags":["a","b"],"retry":null}}"#,
    r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":2147483647}"#,
    r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":-2147483648}"#,
    r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":-0}"#,
    r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":5,"x":[1.5e-3,-0,0.0,1E+9,true,false,null,{},[],"",{"a":[[]]}]}"#,
    r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":5 , "x" : { "y" : [ 1 , 2 ] } , "TS" : 1 }   "#,
    r#"{"ts":"2024-02-29T23:59:59.123456789+23:59","type":"a b","user":"{\"","value":12345678}"#,
];

#[test]
fn the_fast_path_takes_the_common_shapes_and_agrees_with_the_full_scanner() {
    for l in FAST_SHAPES {
        // "{\"" above has a backslash: the fast path declines it; all others it must take.
        let taken = fast_agrees(l.as_bytes());
        assert_eq!(taken, !l.contains('\\'), "fast path taken={taken} for {l:?}");
    }
    // The deepest nesting allowed (64 levels) is still taken; one more is the full scanner's.
    let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    assert!(fast_agrees(ev(T0, "a", "b", "1", &format!(",\"m\":{}", nest(63))).as_bytes()));
    assert!(!fast_agrees(ev(T0, "a", "b", "1", &format!(",\"m\":{}", nest(64))).as_bytes()));
    expect(ev(T0, "a", "b", "1", &format!(",\"m\":{}", nest(64))).as_bytes(), "invalid_json");
}

#[test]
fn the_fast_path_declines_what_only_the_full_scanner_can_judge() {
    let declined: &[&str] = &[
        // duplicate or misplaced event keys
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"ts":"2026-01-01T00:00:10Z"}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"value":2}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"user":"c"}"#,
        r#"{"type":"a","ts":"2026-01-01T00:00:10Z","user":"b","value":1}"#,
        // numbers: out of int32, not integer literals, leading zeros, bare minus
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":2147483648}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":-2147483649}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":12345678901234567890}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1.0}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1e2}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":01}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":-}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":"1"}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":01}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":1.}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":-}"#,
        // bad ts, empty strings
        r#"{"ts":"2026-02-29T00:00:10Z","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T24:00:10Z","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10.Z","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10.1234567890Z","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10+24:00","type":"a","user":"b","value":1}"#,
        r#"{"ts":"","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"","value":1}"#,
        // escapes, unicode, controls, other whitespace
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a\u0062","user":"b","value":1}"#,
        "{\"ts\":\"2026-01-01T00:00:10Z\",\"type\":\"é\",\"user\":\"b\",\"value\":1}",
        "{\"ts\":\"2026-01-01T00:00:10Z\",\"type\":\"a\",\"user\":\"b\",\"value\":1,\"x\":\"\u{1F600}\"}",
        "{\"ts\":\"2026-01-01T00:00:10Z\",\"type\":\"a\",\"user\":\"b\",\"value\":1}\t",
        "{\"ts\":\"2026-01-01T00:00:10Z\",\"type\":\"a\",\"user\":\"b\",\"value\":1,\"x\":\"a\tb\"}",
        "{\"ts\":\"2026-01-01T00:00:10Z\",\"type\":\"a\",\"user\":\"b\",\"value\":1}\r",
        r#" {"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value": 1}"#,
        // broken JSON after the four fields
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x"}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":[1,]}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":{"a":1,}}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":[}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":{]}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":tru}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":nul}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":"}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1}}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1} x"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1}{}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":[1 2]}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":{"a" 1}}"#,
        r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1,"x":{1:1}}"#,
    ];
    for l in declined {
        assert!(!fast_agrees(l.as_bytes()), "the fast path should have declined {l:?}");
    }
    // Long lines are the full scanner's too (the fast path maps at most FAST_MAX bytes).
    let long = ev(T0, "a", "b", "1", &format!(",\"pad\":\"{}\"", "x".repeat(parse::validate::FAST_MAX)));
    assert!(!fast_agrees(long.as_bytes()));
    assert!(valid(&long));
}

/// Like [`fast_agrees`], but with a validator that has seen `seen` first (so the fast path has
/// tail templates from it, see validate.rs): its fast path and `validate_line` must still agree
/// with the full scanner on `line`.
#[track_caller]
fn primed_agrees(v: &mut Validator, seen: &[&[u8]], line: &[u8]) -> bool {
    let mut buf = Vec::new();
    for l in seen {
        buf.extend_from_slice(l);
        buf.push(b'\n');
    }
    let at = buf.len();
    buf.extend_from_slice(line);
    buf.extend_from_slice(b"\n{\"ts\":\"\\\"}]  \"value\":1 trailing bytes of the next line \"\n");
    let mut pos = 0;
    while pos < at {
        pos = v.validate_line(&buf, pos).0 + 1;
    }
    let mut full = Validator::new();
    let want = full.validate_full(&buf, at, at + line.len());
    let shown = String::from_utf8_lossy(line);
    let got = v.validate_fast(&buf, at, at + line.len());
    if let Some(ev) = got {
        let Ok(w) = want else {
            panic!("primed fast path accepted a line the full scanner rejects: {shown:?} ({want:?})")
        };
        assert_eq!(ev, w, "primed fast path event differs: {shown:?}");
    }
    if !line.contains(&b'\n') {
        let (nl, r) = v.validate_line(&buf, at);
        assert_eq!(nl, at + line.len(), "{shown:?}");
        match (&r, &want) {
            (Ok(a), Ok(b)) => assert_eq!((a.epoch, a.value), (b.epoch, b.value), "{shown:?}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "primed validate_line verdict differs: {shown:?}"),
            _ => panic!("primed validate_line {r:?} but full scanner {want:?}: {shown:?}"),
        }
    }
    got.is_some()
}

/// A small deterministic generator (xorshift64*), so the mutation test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn the_fast_path_agrees_with_the_full_scanner_on_mutated_lines() {
    // Bytes that matter to the grammar, the four keys' pieces, escapes, UTF-8 and controls.
    const ALPHABET: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b" ",
        b"0",
        b"1",
        b"9",
        b"-",
        b"+",
        b".",
        b"e",
        b"E",
        b"t",
        b"f",
        b"n",
        b"u",
        b"l",
        b"r",
        b"\\",
        b"\t",
        b"\r",
        b"\x00",
        b"\x1f",
        b"\x7f",
        b"\xc3\xa9",
        b"\xff",
        b"\xed\xa0\x80",
        b"Z",
        b"T",
        b"\"ts\"",
        b"\"type\"",
        b"\"user\"",
        b"\"value\"",
        b"true",
        b"null",
        b"2147483648",
        b"-2147483648",
        b"[[[[",
        b"]]]]",
        b"\\u0041",
        b"\\ud83d\\ude00",
        b"\\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut cases, mut taken) = (0usize, 0usize);
    for base in FAST_SHAPES.iter().map(|l| l.as_bytes().to_vec()) {
        assert!(fast_agrees(&base) || base.contains(&b'\\'));
        for _ in 0..3000 {
            let mut l = base.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(l.len() + 1);
                let piece = ALPHABET[rng.below(ALPHABET.len())];
                match rng.below(4) {
                    0 if at < l.len() => {
                        l.remove(at);
                    }
                    1 if at < l.len() => {
                        let end = (at + piece.len()).min(l.len());
                        l.splice(at..end, piece.iter().copied());
                    }
                    2 if at < l.len() => {
                        // A digit or a byte of a number changed: int32 and ts edges.
                        l[at] = b"0123456789"[rng.below(10)];
                    }
                    _ => {
                        l.splice(at..at, piece.iter().copied());
                    }
                }
            }
            cases += 1;
            if fast_agrees(&l) {
                taken += 1;
            }
        }
    }
    // Digit changes mostly keep lines valid: the fast path must have taken a fair share, or
    // this test would compare nothing.
    assert!(taken * 20 > cases, "fast path took only {taken} of {cases} mutated lines");
}

/// The fast path's tail templates (made from tails it accepted before) against the full scanner:
/// one validator per shape sees the shape and then its mutations (and learns from those too).
#[test]
fn the_primed_fast_path_agrees_with_the_full_scanner_on_mutated_lines() {
    #[rustfmt::skip]
    const PIECES: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b"\"", b":", b",", b" ", b"0", b"00", b"1", b"9",
        b"-", b".", b"e", b"E", b"true", b"fals", b"null", b"\"ts\"", b"\"value\"", b"\"x\":1", b"\\", b"\t",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut cases, mut taken) = (0usize, 0usize);
    for base in FAST_SHAPES.iter().map(|l| l.as_bytes()).filter(|l| !l.contains(&b'\\')) {
        let mut v = Validator::new();
        assert!(primed_agrees(&mut v, &[base, base], base));
        for _ in 0..3000 {
            let mut l = base.to_vec();
            // Mostly the tail (after "value"), where the templates work.
            let tail = l.windows(8).position(|w| w == b"\"value\":").unwrap() + 8;
            for _ in 0..1 + rng.below(2) {
                let at = tail + rng.below(l.len() + 1 - tail);
                let piece = PIECES[rng.below(PIECES.len())];
                match rng.below(4) {
                    0 if at < l.len() => {
                        l.remove(at);
                    }
                    1 if at < l.len() && l[at].is_ascii_alphanumeric() => {
                        // Another character in a string or a number: the shape often stays.
                        l[at] = b"0123456789az-"[rng.below(13)];
                    }
                    _ => {
                        l.splice(at..at, piece.iter().copied());
                    }
                }
            }
            cases += 1;
            if primed_agrees(&mut v, &[base], &l) {
                taken += 1;
            }
        }
    }
    assert!(taken * 10 > cases, "fast path took only {taken} of {cases} mutated lines");
}
