//! The per-batch work: framing checks, event columns, per-batch dictionaries, dead letters.

use bytes::Bytes;
use parse::batch::{BatchParser, merge_dead_letters};
use parse::pb::{DeadLetter, DeadLetterReason, Events, RawLines};

fn raw(lines: &[Vec<u8>], first: u64) -> RawLines {
    let mut data = Vec::new();
    let mut nums = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        data.extend_from_slice(l);
        data.push(b'\n');
        nums.extend_from_slice(&(first + i as u64).to_le_bytes());
    }
    RawLines { data: Bytes::from(data), line_numbers: Bytes::from(nums), shared: None }
}

fn ev(t: &str, u: &str, v: i64) -> Vec<u8> {
    format!(r#"{{"ts":"2026-01-01T00:00:10Z","type":"{t}","user":"{u}","value":{v}}}"#).into_bytes()
}

fn column<const N: usize>(b: &[u8]) -> Vec<[u8; N]> {
    assert_eq!(b.len() % N, 0);
    b.chunks_exact(N).map(|c| c.try_into().unwrap()).collect()
}

fn decode(e: &Events) -> Vec<(i64, Vec<u8>, Vec<u8>, i32)> {
    let ts = column::<8>(&e.ts_seconds);
    let v = column::<4>(&e.value);
    let ti = column::<4>(&e.type_index);
    let ui = column::<4>(&e.user_index);
    assert!([ts.len(), v.len(), ti.len(), ui.len()].iter().all(|&n| n == e.count as usize));
    (0..e.count as usize)
        .map(|i| {
            (
                i64::from_le_bytes(ts[i]),
                e.type_dict[u32::from_le_bytes(ti[i]) as usize].to_vec(),
                e.user_dict[u32::from_le_bytes(ui[i]) as usize].to_vec(),
                i32::from_le_bytes(v[i]),
            )
        })
        .collect()
}

#[test]
fn dictionaries_hold_each_distinct_value_once_for_keys_of_every_length() {
    // Users of lengths 1..=40 (inline-key and hashed paths), each appearing three times, and
    // values that share prefixes and suffixes (packed-key collisions must not merge them).
    let mut lines = Vec::new();
    let mut want = Vec::new();
    for round in 0..3 {
        for n in 1..=40usize {
            for variant in ["a", "b"] {
                let user = format!("{}{variant}{}", "x".repeat(n / 2), "y".repeat(n - n / 2));
                let t = format!("t{}", n % 3);
                lines.push(ev(&t, &user, (n * 10 + round) as i64));
                want.push((1767225610i64, t.into_bytes(), user.into_bytes(), (n * 10 + round) as i32));
            }
        }
    }
    let r = raw(&lines, 1);
    assert_eq!(BatchParser::check(&r), Ok(lines.len()));
    let mut p = BatchParser::new();
    let out = p.parse(&r);
    assert!(out.dead_letters.is_empty());
    assert_eq!(out.lines, lines.len() as u64);
    assert_eq!(decode(&out.events), want);
    assert_eq!(out.events.type_dict.len(), 3);
    assert_eq!(out.events.user_dict.len(), 80);
    let mut distinct = out.events.user_dict.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 80);

    // The dictionaries start afresh with the next batch.
    let r2 = raw(&[ev("zz", "only", 1)], 500);
    let out2 = p.parse(&r2);
    assert_eq!(out2.events.type_dict, vec![Bytes::from_static(b"zz")]);
    assert_eq!(out2.events.user_dict, vec![Bytes::from_static(b"only")]);
    assert_eq!(out2.events.type_index.as_ref(), &0u32.to_le_bytes());
}

#[test]
fn many_users_grow_the_table() {
    let lines: Vec<Vec<u8>> = (0..50_000).map(|i| ev("click", &format!("u{:06}", i % 20_000), i % 7)).collect();
    let out = BatchParser::new().parse(&raw(&lines, 1));
    assert_eq!(out.events.count, 50_000);
    assert_eq!(out.events.user_dict.len(), 20_000);
    let rows = decode(&out.events);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.2, format!("u{:06}", i % 20_000).into_bytes());
    }
}

#[test]
fn escaped_strings_are_decoded_into_the_dictionary() {
    let lines = vec![
        br#"{"ts":"2026-01-01T00:00:10Z","type":"cl\u0069ck","user":"u\"1","value":1}"#.to_vec(),
        ev("click", "u\\\"1", 2),
        ev("click", "é", 3),
        br#"{"ts":"2026-01-01T00:00:10Z","type":"click","user":"\u00e9","value":4}"#.to_vec(),
    ];
    let out = BatchParser::new().parse(&raw(&lines, 1));
    let rows = decode(&out.events);
    assert_eq!(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(), vec![b"click".to_vec(); 4]);
    assert_eq!(rows[0].2, b"u\"1".to_vec());
    assert_eq!(rows[1].2, b"u\"1".to_vec());
    assert_eq!(rows[2].2, "é".as_bytes().to_vec());
    assert_eq!(rows[3].2, "é".as_bytes().to_vec());
    assert_eq!(out.events.type_dict.len(), 1);
    assert_eq!(out.events.user_dict.len(), 2);
}

#[test]
fn invalid_lines_become_dead_letters_with_their_line_numbers() {
    let lines = vec![ev("a", "u", 1), b"{".to_vec(), ev("a", "u", 2147483648), b"[]".to_vec(), ev("b", "v", -1)];
    let out = BatchParser::new().parse(&raw(&lines, 41));
    let dl: Vec<(u64, i32)> = out.dead_letters.iter().map(|d| (d.line, d.reason)).collect();
    assert_eq!(
        dl,
        vec![
            (42, DeadLetterReason::InvalidJson as i32),
            (43, DeadLetterReason::InvalidEvent as i32),
            (44, DeadLetterReason::InvalidEvent as i32),
        ]
    );
    assert_eq!(out.events.count, 2);
    assert_eq!(decode(&out.events)[1].3, -1);
}

#[test]
fn framing_checks() {
    let ok = raw(&[ev("a", "u", 1), ev("a", "u", 2)], 1);
    assert_eq!(BatchParser::check(&ok), Ok(2));
    assert_eq!(BatchParser::check(&RawLines::default()), Ok(0));
    let bad = RawLines { data: ok.data.clone(), line_numbers: ok.line_numbers.slice(..12), shared: None };
    assert!(BatchParser::check(&bad).unwrap_err().0.contains("not a multiple of 8"));
    let bad = RawLines { data: ok.data.clone(), line_numbers: ok.line_numbers.slice(..8), shared: None };
    assert!(BatchParser::check(&bad).unwrap_err().0.contains("2 lines but line_numbers has 1"));
    let bad =
        RawLines { data: ok.data.slice(..ok.data.len() - 1), line_numbers: ok.line_numbers.clone(), shared: None };
    assert!(BatchParser::check(&bad).unwrap_err().0.contains("newline"));
}

#[test]
fn dead_letters_merge_in_line_order() {
    let d = |line: u64| DeadLetter { line, reason: DeadLetterReason::InvalidJson as i32, detail: String::new() };
    let merged = merge_dead_letters(vec![d(2), d(9)], vec![d(1), d(5), d(12)]);
    assert_eq!(merged.iter().map(|x| x.line).collect::<Vec<_>>(), vec![1, 2, 5, 9, 12]);
    assert_eq!(merge_dead_letters(vec![], vec![d(3)]).len(), 1);
    assert_eq!(merge_dead_letters(vec![d(3)], vec![]).len(), 1);
}

/// What the stage sends for a parsed batch (`process_batch_encoded`, written without building
/// the message) is byte for byte what prost writes for the batch `process_batch` returns.
#[test]
fn the_encoded_batch_is_the_prost_encoding_of_the_parsed_batch() {
    use parse::pb::batch::Payload;
    use parse::pb::stage_request::Kind;
    use parse::pb::{Batch, BatchCounters, BatchMeta, StageRequest};
    use parse::stage::{process_batch, process_batch_encoded};
    use prost::Message;
    let mut many: Vec<Vec<u8>> =
        (0..3000).map(|i| ev(&format!("t{}", i % 7), &format!("u{:05}", i % 1300), i - 1500)).collect();
    many.push(b"not json".to_vec());
    many.push(br#"{"ts":"2026-01-01T00:00:10Z","type":"cl\u0069ck","user":"\u00e9\"","value":1}"#.to_vec());
    many.push(ev("a-very-long-type-name-beyond-16-bytes", "a-very-long-user-name-beyond-16-bytes", 2147483647));
    let cases: Vec<(Vec<Vec<u8>>, Option<BatchCounters>, Vec<DeadLetter>)> = vec![
        (
            many,
            Some(BatchCounters { lines: 3004, invalid: 1, dropped: 0 }),
            vec![DeadLetter {
                line: 2,
                reason: DeadLetterReason::InvalidJson as i32,
                detail: "line longer than 1 MiB".into(),
            }],
        ),
        (vec![b"{".to_vec(), b"[]".to_vec()], None, vec![]),
        (vec![], Some(BatchCounters::default()), vec![]),
        (vec![ev("a", "u", 1)], None, vec![]),
    ];
    let mut old = BatchParser::new();
    let mut new = BatchParser::new();
    for (i, (lines, counters, dead)) in cases.into_iter().enumerate() {
        let batch = Batch {
            meta: Some(BatchMeta {
                trace_id: 7 + i as u64,
                ingest_unix_ns: -5,
                first_offset: 1,
                end_offset: 2,
                first_line: 1,
                last_line: 9,
            }),
            counters,
            dead_letters: dead,
            payload: Some(Payload::Raw(raw(&lines, 1))),
        };
        let (want, l1, e1, i1) = process_batch("parse", &mut old, batch.clone()).unwrap();
        let want = StageRequest { kind: Some(Kind::Batch(want)) }.encode_to_vec();
        let (got, l2, e2, i2) = process_batch_encoded("parse", &mut new, batch).unwrap();
        assert_eq!((l1, e1, i1), (l2, e2, i2), "case {i}");
        assert_eq!(got, want, "case {i}: encodings differ");
        // And it decodes back to the same message.
        assert_eq!(StageRequest::decode(&got[..]).unwrap().encode_to_vec(), want, "case {i}");
    }
}

/// process_batch_encoded counts the lines as it parses; a wrong count fails like check().
#[test]
fn the_encoded_path_rejects_miscounted_batches_like_check() {
    use parse::pb::batch::Payload;
    use parse::pb::{Batch, BatchMeta};
    use parse::stage::process_batch_encoded;
    let ok = raw(&[ev("a", "u", 1), b"{".to_vec(), ev("a", "u", 2)], 1);
    let cases = [
        (ok.line_numbers.slice(..16), "data holds 3 lines but line_numbers has 2 entries"),
        (
            Bytes::from([ok.line_numbers.to_vec(), 9u64.to_le_bytes().to_vec()].concat()),
            "data holds 3 lines but line_numbers has 4 entries",
        ),
        (ok.line_numbers.slice(..12), "line_numbers has 12 bytes, not a multiple of 8"),
    ];
    for (nums, want) in cases {
        let r = RawLines { data: ok.data.clone(), line_numbers: nums, shared: None };
        assert_eq!(BatchParser::check(&r).unwrap_err().0, want);
        let b = Batch {
            meta: Some(BatchMeta { trace_id: 3, ..Default::default() }),
            payload: Some(Payload::Raw(r)),
            ..Default::default()
        };
        let err = process_batch_encoded("parse", &mut BatchParser::new(), b).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(err.message(), format!("parse: batch 3: {want}"));
    }
}

/// Dictionary entries of up to 16 bytes are written from their packed keys (not from the input):
/// keys of every length, sharing prefixes and suffixes, escaped ones, still encode exactly as
/// prost encodes the dictionaries `process_batch` returns.
#[test]
fn encoded_dictionaries_hold_keys_of_every_length() {
    use parse::pb::batch::Payload;
    use parse::pb::stage_request::Kind;
    use parse::pb::{Batch, BatchMeta, StageRequest};
    use parse::stage::{process_batch, process_batch_encoded};
    use prost::Message;
    let mut lines = Vec::new();
    for round in 0..2 {
        for n in 1..=40usize {
            for variant in ["a", "b", "é"] {
                let key = format!("{}{variant}{}", "x".repeat(n / 2), "y".repeat(n - n / 2));
                lines.push(ev(&format!("{variant}{}", "t".repeat(n % 20)), &key, (n + round) as i64));
            }
        }
        lines.push(br#"{"ts":"2026-01-01T00:00:10Z","type":"\u0061b","user":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9","value":1}"#.to_vec());
    }
    let batch = Batch {
        meta: Some(BatchMeta { trace_id: 1, ..Default::default() }),
        counters: None,
        dead_letters: vec![],
        payload: Some(Payload::Raw(raw(&lines, 1))),
    };
    let (want, _, events, _) = process_batch("parse", &mut BatchParser::new(), batch.clone()).unwrap();
    assert_eq!(events, lines.len() as u64);
    let Some(Payload::Events(e)) = &want.payload else { panic!("no events") };
    assert!(e.type_dict.iter().any(|t| t.len() == 1) && e.user_dict.iter().any(|u| u.len() > 16));
    let want = StageRequest { kind: Some(Kind::Batch(want)) }.encode_to_vec();
    let (got, ..) = process_batch_encoded("parse", &mut BatchParser::new(), batch).unwrap();
    assert_eq!(got, want);
}
