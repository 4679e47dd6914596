//! Validator-only micro-benchmark: loads a file into memory once, then frames and validates it
//! `repeat` times (single thread) and prints the best pass in lines/s.
//!   cargo run --release --example bench -- FILE [REPEAT]
//!   cargo run --release --example bench -- FILE REPEAT batches [LINES_PER_BATCH]   (default 10000)
use std::time::Instant;

use parse::validate::Validator;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).expect("read input");
    let repeat: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(7);
    if args.get(3).is_some_and(|a| a == "batches") {
        let size = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(10_000);
        return batches(&data, repeat, size);
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

/// The stage's per-batch work over `size`-line batches, as `run` does it: check, validate,
/// columns, dictionaries, dead letters and the protobuf encoding of the outgoing StageRequest
/// (`process_batch_encoded`), and for comparison `process_batch` + prost `encode_to_vec`.
#[allow(dead_code)]
pub fn batches(data: &[u8], repeat: usize, size: usize) {
    use bytes::Bytes;
    use parse::batch::BatchParser;
    use parse::pb::batch::Payload;
    use parse::pb::stage_request::Kind;
    use parse::pb::{Batch, BatchCounters, BatchMeta, RawLines, StageRequest};
    use parse::stage::{process_batch, process_batch_encoded};
    use prost::Message;
    let mut raws = Vec::new();
    let (mut buf, mut nums, mut n, mut pos, mut line_no) = (Vec::new(), Vec::new(), 0, 0usize, 0u64);
    let mut cut = |buf: &mut Vec<u8>, nums: &mut Vec<u8>, n: usize| {
        let trace = raws.len() as u64 + 1;
        raws.push(Batch {
            meta: Some(BatchMeta {
                trace_id: trace,
                ingest_unix_ns: 1,
                first_offset: 2,
                end_offset: 3,
                first_line: 4,
                last_line: 5,
            }),
            counters: Some(BatchCounters { lines: n as u64, invalid: 0, dropped: 0 }),
            dead_letters: vec![],
            payload: Some(Payload::Raw(RawLines {
                data: Bytes::from(std::mem::take(buf)),
                line_numbers: Bytes::from(std::mem::take(nums)),
                shared: None,
            })),
        });
    };
    for nl in memchr::memchr_iter(b'\n', data) {
        line_no += 1;
        buf.extend_from_slice(&data[pos..=nl]);
        nums.extend_from_slice(&line_no.to_le_bytes());
        n += 1;
        pos = nl + 1;
        if n == size {
            cut(&mut buf, &mut nums, n);
            n = 0;
        }
    }
    if n > 0 {
        cut(&mut buf, &mut nums, n);
    }
    let lines = line_no as f64;
    let mut p = BatchParser::new();
    // Same bytes both ways.
    for b in raws.iter().take(3) {
        let old = StageRequest { kind: Some(Kind::Batch(process_batch("parse", &mut p, b.clone()).unwrap().0)) };
        let new = process_batch_encoded("parse", &mut p, b.clone()).unwrap().0;
        assert_eq!(old.encode_to_vec(), new, "process_batch_encoded differs from prost");
    }
    let (mut best_new, mut best_old) = (f64::MAX, f64::MAX);
    let mut all_new = Vec::new();
    let mut cpu_new = Vec::new();
    for _ in 0..repeat {
        let c = thread_cpu();
        let t = Instant::now();
        let mut bytes = 0;
        for b in &raws {
            bytes += process_batch_encoded("parse", &mut p, b.clone()).unwrap().0.len();
        }
        all_new.push(t.elapsed().as_secs_f64());
        cpu_new.push(thread_cpu() - c);
        best_new = best_new.min(t.elapsed().as_secs_f64());
        std::hint::black_box(bytes);
        let t = Instant::now();
        for b in &raws {
            let out = process_batch("parse", &mut p, b.clone()).unwrap().0;
            bytes += StageRequest { kind: Some(Kind::Batch(out)) }.encode_to_vec().len();
        }
        best_old = best_old.min(t.elapsed().as_secs_f64());
        std::hint::black_box(bytes);
    }
    all_new.sort_by(f64::total_cmp);
    cpu_new.sort_by(f64::total_cmp);
    println!(
        "batches of {size} lines, best of {repeat}: process_batch_encoded {:.1} ns/line (median {:.1}, thread CPU median {:.1} min {:.1}); process_batch + prost encode {:.1} ns/line",
        best_new / lines * 1e9,
        all_new[all_new.len() / 2] / lines * 1e9,
        cpu_new[cpu_new.len() / 2] / lines * 1e9,
        cpu_new[0] / lines * 1e9,
        best_old / lines * 1e9,
    );
}

/// CPU seconds this thread has used (not counting time the machine gave to other work).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
