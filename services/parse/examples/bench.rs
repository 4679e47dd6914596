//! Validator-only micro-benchmark: loads a file into memory once, then frames and validates it
//! `repeat` times (single thread) and prints the best pass in lines/s.
//!   cargo run --release --example bench -- FILE [REPEAT]
use std::time::Instant;

use parse::validate::Validator;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).expect("read input");
    let repeat: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(7);
    if args.get(3).is_some_and(|a| a == "batches") {
        return batches(&data, repeat);
    }
    let mut v = Validator::new();
    let mut best = f64::MAX;
    let (mut lines, mut valid) = (0u64, 0u64);
    for _ in 0..repeat {
        let t = Instant::now();
        lines = 0;
        valid = 0;
        let mut pos = 0;
        for nl in memchr::memchr_iter(b'\n', &data) {
            let mut e = nl;
            if e > pos && data[e - 1] == b'\r' {
                e -= 1;
            }
            if e > pos {
                lines += 1;
                if v.validate(&data, pos, e).is_ok() {
                    valid += 1;
                }
            }
            pos = nl + 1;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{lines} lines ({valid} valid), best of {repeat}: {:.3} s = {:.2} M lines/s, {:.0} MB/s",
        best,
        lines as f64 / best / 1e6,
        data.len() as f64 / best / 1e6
    );
}

/// The stage's per-batch work (validate + columns + dictionaries) over 10,000-line batches.
#[allow(dead_code)]
pub fn batches(data: &[u8], repeat: usize) {
    use bytes::Bytes;
    use parse::batch::BatchParser;
    use parse::pb::RawLines;
    use prost::Message;
    let mut raws = Vec::new();
    let (mut buf, mut nums, mut n, mut pos, mut line_no) = (Vec::new(), Vec::new(), 0, 0usize, 0u64);
    for nl in memchr::memchr_iter(b'\n', data) {
        line_no += 1;
        buf.extend_from_slice(&data[pos..=nl]);
        nums.extend_from_slice(&line_no.to_le_bytes());
        n += 1;
        pos = nl + 1;
        if n == 10_000 {
            raws.push(RawLines {
                data: Bytes::from(std::mem::take(&mut buf)),
                line_numbers: Bytes::from(std::mem::take(&mut nums)),
            });
            n = 0;
        }
    }
    let mut p = BatchParser::new();
    let (mut best_parse, mut best_enc) = (f64::MAX, f64::MAX);
    for _ in 0..repeat {
        let t = Instant::now();
        let parsed: Vec<_> = raws.iter().map(|r| p.parse(r)).collect();
        best_parse = best_parse.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let bytes: usize = parsed.iter().map(|x| x.events.encode_to_vec().len()).sum();
        best_enc = best_enc.min(t.elapsed().as_secs_f64());
        std::hint::black_box(bytes);
    }
    let lines = raws.len() as f64 * 10_000.0;
    println!(
        "batches: parse {:.2} M lines/s, encode Events {:.2} M lines/s",
        lines / best_parse / 1e6,
        lines / best_enc / 1e6
    );
}
