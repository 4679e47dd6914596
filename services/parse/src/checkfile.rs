//! `parse --check-file INPUT`: frames a file exactly like `pipeline/src/validate/line-reader.ts`
//! (1-based physical line numbers, blank lines skipped but numbered, one trailing `\r` dropped,
//! lines over 1 MiB `invalid_json`), validates every line and prints the dead letters as NDJSON
//! `{"line":N,"reason":R}` on stdout and a summary line on stderr. With `--results FILE` it also
//! aggregates the valid events as DESIGN.md §4.4 does under the rules
//! `{"drop":[],"tag":[],"windowSeconds":W}` and writes the canonical results.json, so the
//! decoded fields (ts seconds, type, user, value) can be compared byte for byte with the oracle.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::time::Instant;

use crate::validate::{Event, Invalid, MAX_LINE_BYTES, Reason, Validator};

const CHUNK: usize = 8 * 1024 * 1024;

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|&c| c == b' ' || c == b'\t' || c == b'\r')
}

/// Receives framed lines.
pub trait LineSink {
    /// A non-blank line `buf[start..end]` (no `\n`, trailing `\r` removed); `buf` may extend
    /// beyond `end`.
    fn line(&mut self, buf: &[u8], start: usize, end: usize, line_no: u64);
    /// A line longer than MAX_LINE_BYTES.
    fn oversize(&mut self, line_no: u64);
}

fn emit(buf: &[u8], s: usize, mut e: usize, line_no: u64, sink: &mut impl LineSink) {
    if e > s && buf[e - 1] == b'\r' {
        e -= 1;
    }
    if is_blank(&buf[s..e]) {
        return;
    }
    if e - s > MAX_LINE_BYTES {
        sink.oversize(line_no);
        return;
    }
    sink.line(buf, s, e, line_no);
}

/// Streams the lines of `r` through `sink` in 8 MiB chunks with bounded memory (an overlong
/// line is never held whole); returns (physical lines, bytes read).
pub fn frame_reader(r: &mut impl Read, sink: &mut impl LineSink) -> io::Result<(u64, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0usize;
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    let mut skipping = false;
    let mut skip_blank = true;
    loop {
        let n = loop {
            match r.read(&mut buf[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        bytes += n as u64;
        let eof = n == 0;
        filled += n;
        let view = &buf[..filled];
        let mut pos = 0usize;
        for nl in memchr::memchr_iter(b'\n', view) {
            if skipping {
                skip_blank = skip_blank && is_blank(&view[pos..nl]);
                if !skip_blank {
                    sink.oversize(line_no);
                }
                skipping = false;
            } else {
                line_no += 1;
                emit(view, pos, nl, line_no, sink);
            }
            pos = nl + 1;
        }
        if eof {
            if skipping {
                if !(skip_blank && is_blank(&view[pos..filled])) {
                    sink.oversize(line_no);
                }
            } else if pos < filled {
                line_no += 1;
                emit(view, pos, filled, line_no, sink);
            }
            return Ok((line_no, bytes));
        }
        let rem = filled - pos;
        if skipping {
            skip_blank = skip_blank && is_blank(&view[pos..filled]);
            filled = 0;
        } else if rem > MAX_LINE_BYTES + 1 {
            // Longer than 1 MiB even without a trailing \r: too long unless it is all blank.
            line_no += 1;
            skipping = true;
            skip_blank = is_blank(&view[pos..filled]);
            filled = 0;
        } else {
            buf.copy_within(pos..filled, 0);
            filled = rem;
        }
    }
}

#[derive(Clone, Copy)]
struct Agg {
    count: i64,
    sum: i64,
    min: i64,
    max: i64,
}

impl Agg {
    fn new(v: i64) -> Self {
        Agg { count: 1, sum: v, min: v, max: v }
    }
    fn add(&mut self, v: i64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

#[derive(Default)]
struct Aggregates {
    type_ids: HashMap<Vec<u8>, u32>,
    types: Vec<(Vec<u8>, Agg)>,
    users: HashMap<Vec<u8>, Agg>,
    windows: HashMap<(i64, u32), (i64, i64)>,
}

struct Checker<W: Write> {
    validator: Validator,
    out: W,
    lines: u64,
    valid: u64,
    invalid_json: u64,
    invalid_event: u64,
    aggregates: Option<(Aggregates, i64)>,
    error: Option<io::Error>,
}

impl<W: Write> Checker<W> {
    fn dead(&mut self, line_no: u64, inv: &Invalid) {
        match inv.reason {
            Reason::InvalidJson => self.invalid_json += 1,
            Reason::InvalidEvent => self.invalid_event += 1,
        }
        if let Err(e) = writeln!(self.out, "{{\"line\":{line_no},\"reason\":\"{}\"}}", inv.reason.as_str()) {
            self.error.get_or_insert(e);
        }
    }

    fn aggregate(&mut self, buf: &[u8], ev: &Event) {
        let Some((agg, window)) = self.aggregates.as_mut() else { return };
        let v = ev.value as i64;
        let t = self.validator.type_bytes(buf, ev);
        let tid = match agg.type_ids.get(t) {
            Some(&id) => {
                agg.types[id as usize].1.add(v);
                id
            }
            None => {
                let id = agg.types.len() as u32;
                agg.type_ids.insert(t.to_vec(), id);
                agg.types.push((t.to_vec(), Agg::new(v)));
                id
            }
        };
        let u = self.validator.user_bytes(buf, ev);
        match agg.users.get_mut(u) {
            Some(a) => a.add(v),
            None => {
                agg.users.insert(u.to_vec(), Agg::new(v));
            }
        }
        let start = ev.epoch.div_euclid(*window) * *window;
        let w = agg.windows.entry((start, tid)).or_insert((0, 0));
        w.0 += 1;
        w.1 += v;
    }
}

impl<W: Write> LineSink for Checker<W> {
    #[inline]
    fn line(&mut self, buf: &[u8], start: usize, end: usize, line_no: u64) {
        self.lines += 1;
        match self.validator.validate(buf, start, end) {
            Ok(ev) => {
                self.valid += 1;
                if self.aggregates.is_some() {
                    self.aggregate(buf, &ev);
                }
            }
            Err(inv) => self.dead(line_no, &inv),
        }
    }

    fn oversize(&mut self, line_no: u64) {
        self.lines += 1;
        let inv = Invalid { reason: Reason::InvalidJson, what: "line longer than 1 MiB", at: usize::MAX };
        self.dead(line_no, &inv);
    }
}

/// A JSON string with only `"`, `\` and bytes below 0x20 escaped (`\u00xx`), as §4.4 writes.
pub fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c < 0x20 => {
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]])
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let sod = epoch - days * 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let ys = if y < 0 { format!("-{:04}", -y) } else { format!("{y:04}") };
    format!("{ys}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

fn results_json(c: &Checker<impl Write>, agg: &Aggregates) -> Vec<u8> {
    let invalid = c.invalid_json + c.invalid_event;
    let mut out = Vec::new();
    write!(
        out,
        "{{\"version\":1,\"counts\":{{\"lines\":{},\"valid\":{},\"invalid\":{},\"dropped\":0,\"aggregated\":{}}},",
        c.lines, c.valid, invalid, c.valid
    )
    .unwrap();
    let groups = |out: &mut Vec<u8>, mut gs: Vec<(&[u8], Agg)>| {
        gs.sort_by(|a, b| a.0.cmp(b.0));
        out.push(b'[');
        for (i, (k, a)) in gs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"key\":");
            json_string(out, k);
            write!(out, ",\"count\":{},\"sum\":{},\"min\":{},\"max\":{}}}", a.count, a.sum, a.min, a.max).unwrap();
        }
        out.push(b']');
    };
    out.extend_from_slice(b"\"byType\":");
    groups(&mut out, agg.types.iter().map(|(k, a)| (&k[..], *a)).collect());
    out.extend_from_slice(b",\"byUser\":");
    groups(&mut out, agg.users.iter().map(|(k, a)| (&k[..], *a)).collect());
    out.extend_from_slice(b",\"byTag\":[],\"byWindow\":[");
    type Window<'a> = (&'a (i64, u32), &'a (i64, i64));
    let mut ws: Vec<Window> = agg.windows.iter().collect();
    ws.sort_by(|a, b| a.0.0.cmp(&b.0.0).then_with(|| agg.types[a.0.1 as usize].0.cmp(&agg.types[b.0.1 as usize].0)));
    for (i, ((start, tid), (count, sum))) in ws.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(out, "{{\"start\":\"{}\",\"type\":", format_utc(*start)).unwrap();
        json_string(&mut out, &agg.types[*tid as usize].0);
        write!(out, ",\"count\":{count},\"sum\":{sum}}}").unwrap();
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// Runs the file check; returns the process exit code.
pub fn run(input: &str, results: Option<&str>, window_seconds: i64) -> i32 {
    let mut file = match File::open(input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("parse: cannot open {input}: {e}");
            return 2;
        }
    };
    let stdout = io::stdout();
    let mut checker = Checker {
        validator: Validator::new(),
        out: BufWriter::with_capacity(1 << 20, stdout.lock()),
        lines: 0,
        valid: 0,
        invalid_json: 0,
        invalid_event: 0,
        aggregates: results.map(|_| (Aggregates::default(), window_seconds)),
        error: None,
    };
    let t0 = Instant::now();
    let (physical, bytes) = match frame_reader(&mut file, &mut checker) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("parse: reading {input}: {e}");
            return 2;
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    if let Err(e) = checker.out.flush() {
        checker.error.get_or_insert(e);
    }
    if let Some(e) = checker.error.take() {
        eprintln!("parse: writing dead letters: {e}");
        return 1;
    }
    if let (Some(path), Some((agg, _))) = (results, checker.aggregates.as_ref()) {
        let json = results_json(&checker, agg);
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("parse: writing {path}: {e}");
            return 1;
        }
    }
    eprintln!(
        "{{\"physicalLines\":{physical},\"bytes\":{bytes},\"lines\":{},\"valid\":{},\"invalid\":{},\"invalidJson\":{},\"invalidEvent\":{},\"seconds\":{secs:.3},\"linesPerSecond\":{:.0},\"mbPerSecond\":{:.1}}}",
        checker.lines,
        checker.valid,
        checker.invalid_json + checker.invalid_event,
        checker.invalid_json,
        checker.invalid_event,
        checker.lines as f64 / secs.max(1e-9),
        bytes as f64 / 1e6 / secs.max(1e-9),
    );
    0
}
