//! Strict §4.2 event validator: a hand-written single-pass JSON scanner over raw bytes (RFC 8259
//! grammar, UTF-8 validation, nesting limit) that also extracts and checks ts/type/user/value.
//!
//! It follows `pipeline/src/validate/validator.ts` (the reference) step by step, so that every
//! line gets the same verdict: `invalid_json` when the line is not JSON by that grammar (any
//! JSON error anywhere in the line wins over event errors), else `invalid_event` when it is not
//! an event object, else a valid event. Nothing is allocated per line: strings without escapes
//! are returned as byte ranges of the input, escaped ones are decoded into reused scratch buffers.

/// Lines longer than this (without `\n` and trailing `\r`) are `invalid_json` (the framer's job).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Deepest allowed nesting of arrays/objects (the top-level value is level 1).
pub const MAX_DEPTH: u32 = 64;

/// Why a line is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    InvalidJson,
    InvalidEvent,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidJson => "invalid_json",
            Reason::InvalidEvent => "invalid_event",
        }
    }
}

/// An invalid line: the reason and a short explanation. For JSON errors `at` is the byte offset
/// in the line where the scanner stopped; for event errors it is `usize::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub reason: Reason,
    pub what: &'static str,
    pub at: usize,
}

impl Invalid {
    /// Human-readable detail text (free text, not part of the cross-implementation contract).
    pub fn detail(&self) -> String {
        if self.at == usize::MAX { self.what.to_string() } else { format!("{} at byte {}", self.what, self.at) }
    }
}

/// Where a string field's bytes are: a range of the input buffer (no escapes), or the
/// validator's scratch buffer for that field (decoded escapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Input(usize, usize),
    Scratch,
}

/// A valid event. `type_loc`/`user_loc` are resolved with [`Validator::type_bytes`] and
/// [`Validator::user_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Unix seconds of `ts`, offset applied, fraction floored.
    pub epoch: i64,
    pub value: i32,
    pub type_loc: Loc,
    pub user_loc: Loc,
}

/// Reusable validator state (scratch buffers for escaped strings).
#[derive(Default)]
pub struct Validator {
    type_buf: Vec<u8>,
    user_buf: Vec<u8>,
    ts_buf: Vec<u8>,
    key_buf: Vec<u8>,
    dates: DateCache,
}

/// Recently seen valid `YYYY-MM-DD` prefixes and their day numbers (direct-mapped): the events
/// of a batch share few dates, and checking a date that exists costs more than a lookup.
struct DateCache {
    slots: [([u8; 10], i64); 64],
}

impl Default for DateCache {
    fn default() -> Self {
        // An all-zero key never matches a real date prefix ("0000000000" has no '-').
        DateCache { slots: [([0u8; 10], 0); 64] }
    }
}

struct JErr {
    what: &'static str,
    at: usize,
}

type JResult<T> = Result<T, JErr>;

#[cold]
#[inline(never)]
fn jerr<T>(what: &'static str, at: usize) -> JResult<T> {
    Err(JErr { what, at })
}

const KEY_TS: u8 = 1;
const KEY_TYPE: u8 = 2;
const KEY_USER: u8 = 3;
const KEY_VALUE: u8 = 4;

#[inline(always)]
fn classify(k: &[u8]) -> u8 {
    let w4 = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    match k.len() {
        2 if k[0] == b't' && k[1] == b's' => KEY_TS,
        4 if w4(k) == u32::from_le_bytes(*b"type") => KEY_TYPE,
        4 if w4(k) == u32::from_le_bytes(*b"user") => KEY_USER,
        5 if w4(k) == u32::from_le_bytes(*b"valu") && k[4] == b'e' => KEY_VALUE,
        _ => 0,
    }
}

/// First position in `[p, e)` holding `"`, `\`, a control character or a non-ASCII byte, or `e`.
/// May read (never use) bytes of `b` beyond `e`.
#[inline(always)]
fn skip_plain(b: &[u8], mut p: usize, e: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads b[p..p+16] in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let slash = _mm_set1_epi8(b'\\' as i8);
            let space = _mm_set1_epi8(0x20);
            while p < e && p + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(p) as *const __m128i);
                // Signed compare: bytes >= 0x80 are negative, so this flags controls and non-ASCII.
                let special = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                    _mm_cmplt_epi8(v, space),
                );
                let m = _mm_movemask_epi8(special) as u32;
                if m != 0 {
                    return (p + m.trailing_zeros() as usize).min(e);
                }
                p += 16;
            }
        }
    }
    while p < e {
        let c = b[p];
        if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) {
            return p;
        }
        p += 1;
    }
    p.min(e)
}

#[inline(always)]
fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    if cp < 0x80 {
        out.push(cp as u8);
    } else if cp < 0x800 {
        out.extend_from_slice(&[0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]);
    } else if cp < 0x10000 {
        out.extend_from_slice(&[0xE0 | (cp >> 12) as u8, 0x80 | ((cp >> 6) & 0x3F) as u8, 0x80 | (cp & 0x3F) as u8]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]);
    }
}

struct Scanner<'a> {
    /// The buffer up to the end of the line: `b.len() == e`.
    b: &'a [u8],
    /// The whole buffer (vector loads may read past the line).
    full: &'a [u8],
    p: usize,
    e: usize,
}

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn skip_ws(&mut self) {
        let b = self.b;
        let mut p = self.p;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(p) {
            p += 1;
        }
        self.p = p;
    }

    /// The byte at P, or None at the end of the line.
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    /// Validates one UTF-8 sequence at P (first byte >= 0x80); advances P.
    #[inline(never)]
    fn utf8_seq(&mut self) -> JResult<()> {
        let b = self.b;
        let p = self.p;
        let (need, min2, max2) = match b[p] {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF), // overlong
            0xED => (2, 0x80, 0x9F), // UTF-16 surrogates
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF), // overlong
            0xF4 => (3, 0x80, 0x8F), // > U+10FFFF
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            _ => return jerr("invalid UTF-8 byte", p),
        };
        if p + need >= self.e {
            return jerr("truncated UTF-8 sequence", p);
        }
        let c2 = b[p + 1];
        if c2 < min2 || c2 > max2 {
            return jerr("invalid UTF-8 sequence", p);
        }
        for i in 2..=need {
            let ci = b[p + i];
            if !(0x80..=0xBF).contains(&ci) {
                return jerr("invalid UTF-8 sequence", p);
            }
        }
        self.p = p + need + 1;
        Ok(())
    }

    #[inline(always)]
    fn hex4(&mut self) -> JResult<u32> {
        if self.p + 4 > self.e {
            return jerr("truncated \\u escape", self.p);
        }
        let mut v = 0u32;
        for i in 0..4 {
            let c = self.b[self.p + i];
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return jerr("bad hex digit in \\u escape", self.p),
            };
            v = (v << 4) | d as u32;
        }
        self.p += 4;
        Ok(v)
    }

    /// Scans a string whose opening quote is at P; P ends after the closing quote. Returns
    /// whether it held escapes; with DECODE and escapes, `out` holds the decoded UTF-8 bytes.
    #[inline(always)]
    fn scan_string<const DECODE: bool>(&mut self, out: &mut Vec<u8>) -> JResult<bool> {
        self.p += 1; // opening quote
        let b = self.b;
        let e = self.e;
        let mut seg = self.p;
        let mut esc = false;
        loop {
            let p = skip_plain(self.full, self.p, e);
            self.p = p;
            let Some(&c) = b.get(p) else {
                return jerr("unterminated string", p);
            };
            if c == b'"' {
                if DECODE && esc {
                    out.extend_from_slice(&b[seg..p]);
                }
                self.p = p + 1;
                return Ok(esc);
            }
            if c == b'\\' {
                self.escape::<DECODE>(out, seg, esc)?;
                esc = true;
                seg = self.p;
                continue;
            }
            if c < 0x20 {
                return jerr("unescaped control character in string", p);
            }
            self.utf8_seq()?;
        }
    }

    /// One escape at P (a backslash); `seg` is where undecoded plain bytes start.
    #[inline(never)]
    fn escape<const DECODE: bool>(&mut self, out: &mut Vec<u8>, seg: usize, esc: bool) -> JResult<()> {
        let b = self.b;
        if DECODE {
            if !esc {
                out.clear();
            }
            out.extend_from_slice(&b[seg..self.p]);
        }
        self.p += 1;
        if self.p >= self.e {
            return jerr("unterminated escape", self.p);
        }
        let x = b[self.p];
        self.p += 1;
        let ch = match x {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let u = self.hex4()?;
                let cp = if (0xD800..=0xDBFF).contains(&u) {
                    if self.p + 6 <= self.e && b[self.p] == b'\\' && b[self.p + 1] == b'u' {
                        self.p += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return jerr("lone high surrogate escape", self.p);
                        }
                        0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        return jerr("lone high surrogate escape", self.p);
                    }
                } else if (0xDC00..=0xDFFF).contains(&u) {
                    return jerr("lone low surrogate escape", self.p);
                } else {
                    u
                };
                if DECODE {
                    push_utf8(out, cp);
                }
                return Ok(());
            }
            _ => return jerr("invalid escape", self.p - 1),
        };
        if DECODE {
            out.push(ch);
        }
        Ok(())
    }

    /// Scans a number at P; returns whether it is an integer literal (no fraction/exponent).
    #[inline(always)]
    fn scan_number(&mut self) -> JResult<bool> {
        let b = self.b;
        let mut p = self.p;
        let mut integer = true;
        let digit = |p: usize| matches!(b.get(p), Some(b'0'..=b'9'));
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        match b.get(p) {
            None => return jerr("truncated number", p),
            Some(b'0') => p += 1,
            Some(b'1'..=b'9') => {
                p += 1;
                while digit(p) {
                    p += 1;
                }
            }
            Some(_) => return jerr("invalid number", p),
        }
        if b.get(p) == Some(&b'.') {
            integer = false;
            p += 1;
            if !digit(p) {
                return jerr("invalid number fraction", p);
            }
            while digit(p) {
                p += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(p) {
            integer = false;
            p += 1;
            if let Some(b'+' | b'-') = b.get(p) {
                p += 1;
            }
            if !digit(p) {
                return jerr("invalid number exponent", p);
            }
            while digit(p) {
                p += 1;
            }
        }
        self.p = p;
        Ok(integer)
    }

    #[inline(always)]
    fn literal(&mut self, lit: &'static [u8]) -> JResult<()> {
        if self.b.get(self.p..self.p + lit.len()) != Some(lit) {
            return jerr("invalid literal", self.p);
        }
        self.p += lit.len();
        Ok(())
    }

    /// Scans any JSON value at P (whitespace skipped) at nesting `depth` (1-based). Scalars
    /// are scanned inline; containers in [`Scanner::scan_container`].
    #[inline(always)]
    fn scan_value(&mut self, depth: u32) -> JResult<()> {
        let mut dummy = Vec::new();
        match self.peek() {
            None => jerr("unexpected end of input", self.p),
            Some(b'"') => self.scan_string::<false>(&mut dummy).map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.scan_number().map(|_| ()),
            Some(b'{' | b'[') => self.scan_container(depth),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => jerr("unexpected character", self.p),
        }
    }

    /// Scans the object or array at P at nesting `depth`.
    #[inline(never)]
    fn scan_container(&mut self, depth: u32) -> JResult<()> {
        if depth > MAX_DEPTH {
            return jerr("nesting deeper than 64", self.p);
        }
        let mut dummy = Vec::new();
        if self.b[self.p] == b'{' {
            self.p += 1;
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.p += 1;
                return Ok(());
            }
            loop {
                if self.peek() != Some(b'"') {
                    return jerr("expected object key", self.p);
                }
                self.scan_string::<false>(&mut dummy)?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return jerr("expected ':'", self.p);
                }
                self.p += 1;
                self.skip_ws();
                self.scan_value(depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    None => return jerr("unterminated object", self.p),
                    Some(b',') => {
                        self.p += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.p += 1;
                        return Ok(());
                    }
                    Some(_) => return jerr("expected ',' or '}'", self.p),
                }
            }
        } else {
            self.p += 1;
            self.skip_ws();
            if self.peek() == Some(b']') {
                self.p += 1;
                return Ok(());
            }
            loop {
                self.scan_value(depth + 1)?;
                self.skip_ws();
                match self.peek() {
                    None => return jerr("unterminated array", self.p),
                    Some(b',') => {
                        self.p += 1;
                        self.skip_ws();
                    }
                    Some(b']') => {
                        self.p += 1;
                        return Ok(());
                    }
                    Some(_) => return jerr("expected ',' or ']'", self.p),
                }
            }
        }
    }
}

/// What the JSON pass found in a top-level object.
struct Fields {
    event_error: Option<&'static str>,
    ts: Option<Loc>,
    type_loc: Option<Loc>,
    user_loc: Option<Loc>,
    value: Option<i32>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of a string field of an event returned for the line in `buf`.
    #[inline(always)]
    pub fn type_bytes<'s>(&'s self, buf: &'s [u8], ev: &Event) -> &'s [u8] {
        match ev.type_loc {
            Loc::Input(s, e) => &buf[s..e],
            Loc::Scratch => &self.type_buf,
        }
    }

    #[inline(always)]
    pub fn user_bytes<'s>(&'s self, buf: &'s [u8], ev: &Event) -> &'s [u8] {
        match ev.user_loc {
            Loc::Input(s, e) => &buf[s..e],
            Loc::Scratch => &self.user_buf,
        }
    }

    /// Validates the line `buf[start..end]` (without `\n`, trailing `\r` removed). Bytes of
    /// `buf` after `end` are never interpreted (they may be read by vector loads). The 1 MiB
    /// limit is the caller's job (it sees the raw line).
    pub fn validate(&mut self, buf: &[u8], start: usize, end: usize) -> Result<Event, Invalid> {
        let f = match self.scan(buf, start, end) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(event_invalid("not a JSON object")),
            Err(j) => {
                return Err(Invalid { reason: Reason::InvalidJson, what: j.what, at: j.at - start });
            }
        };
        if let Some(what) = f.event_error {
            return Err(event_invalid(what));
        }
        let Some(ts) = f.ts else { return Err(event_invalid("missing field \"ts\"")) };
        let Some(type_loc) = f.type_loc else { return Err(event_invalid("missing field \"type\"")) };
        let Some(user_loc) = f.user_loc else { return Err(event_invalid("missing field \"user\"")) };
        let Some(value) = f.value else { return Err(event_invalid("missing field \"value\"")) };
        let ev = Event { epoch: 0, value, type_loc, user_loc };
        if self.type_bytes(buf, &ev).is_empty() {
            return Err(event_invalid("empty \"type\""));
        }
        if self.user_bytes(buf, &ev).is_empty() {
            return Err(event_invalid("empty \"user\""));
        }
        let ts_bytes = match ts {
            Loc::Input(s, e) => &buf[s..e],
            Loc::Scratch => &self.ts_buf[..],
        };
        match parse_ts_cached(ts_bytes, &mut self.dates) {
            Some(epoch) => Ok(Event { epoch, ..ev }),
            None => Err(event_invalid("bad ts")),
        }
    }

    /// The JSON pass. Ok(None): valid JSON that is not an object.
    fn scan(&mut self, buf: &[u8], start: usize, end: usize) -> JResult<Option<Fields>> {
        let mut s = Scanner { b: &buf[..end], full: buf, p: start, e: end };
        let mut f = Fields { event_error: None, ts: None, type_loc: None, user_loc: None, value: None };
        s.skip_ws();
        if s.peek() != Some(b'{') {
            s.scan_value(1)?;
            s.skip_ws();
            if s.p != s.e {
                return jerr("trailing characters after JSON value", s.p);
            }
            return Ok(None);
        }
        s.p += 1;
        s.skip_ws();
        if s.peek() == Some(b'}') {
            s.p += 1;
        } else {
            let mut seen = 0u8;
            loop {
                if s.peek() != Some(b'"') {
                    return jerr("expected object key", s.p);
                }
                // The key: plain ASCII is classified in place; anything else is decoded.
                let ks = s.p + 1;
                let q = skip_plain(buf, ks, end);
                let key = if s.b.get(q) == Some(&b'"') {
                    s.p = q + 1;
                    classify(&buf[ks..q])
                } else {
                    self.key_buf.clear();
                    let escaped = s.scan_string::<true>(&mut self.key_buf)?;
                    if escaped { classify(&self.key_buf) } else { classify(&buf[ks..s.p - 1]) }
                };
                s.skip_ws();
                if s.peek() != Some(b':') {
                    return jerr("expected ':'", s.p);
                }
                s.p += 1;
                s.skip_ws();
                if key != 0 {
                    let bit = 1u8 << key;
                    if seen & bit != 0 && f.event_error.is_none() {
                        f.event_error = Some(match key {
                            KEY_TS => "duplicate key \"ts\"",
                            KEY_TYPE => "duplicate key \"type\"",
                            KEY_USER => "duplicate key \"user\"",
                            _ => "duplicate key \"value\"",
                        });
                    }
                    seen |= bit;
                    let c = s.peek();
                    if key == KEY_VALUE {
                        if matches!(c, Some(b'-' | b'0'..=b'9')) {
                            let ns = s.p;
                            if !s.scan_number()? {
                                if f.event_error.is_none() {
                                    f.event_error = Some("value is not an integer literal");
                                }
                            } else {
                                match int32_literal(&buf[ns..s.p]) {
                                    Some(v) => f.value = Some(v),
                                    None => {
                                        if f.event_error.is_none() {
                                            f.event_error = Some("value is outside int32");
                                        }
                                    }
                                }
                            }
                        } else {
                            s.scan_value(2)?;
                            if f.event_error.is_none() {
                                f.event_error = Some("value is not a number");
                            }
                        }
                    } else if c == Some(b'"') {
                        let q = s.p;
                        let scratch = match key {
                            KEY_TS => &mut self.ts_buf,
                            KEY_TYPE => &mut self.type_buf,
                            _ => &mut self.user_buf,
                        };
                        let escaped = s.scan_string::<true>(scratch)?;
                        let loc = if escaped { Loc::Scratch } else { Loc::Input(q + 1, s.p - 1) };
                        match key {
                            KEY_TS => f.ts = Some(loc),
                            KEY_TYPE => f.type_loc = Some(loc),
                            _ => f.user_loc = Some(loc),
                        }
                    } else {
                        s.scan_value(2)?;
                        if f.event_error.is_none() {
                            f.event_error = Some(match key {
                                KEY_TS => "ts is not a string",
                                KEY_TYPE => "type is not a string",
                                _ => "user is not a string",
                            });
                        }
                    }
                } else {
                    s.scan_value(2)?;
                }
                s.skip_ws();
                match s.peek() {
                    None => return jerr("unterminated object", s.p),
                    Some(b',') => {
                        s.p += 1;
                        s.skip_ws();
                    }
                    Some(b'}') => {
                        s.p += 1;
                        break;
                    }
                    Some(_) => return jerr("expected ',' or '}'", s.p),
                }
            }
        }
        s.skip_ws();
        if s.p != s.e {
            return jerr("trailing characters after JSON value", s.p);
        }
        Ok(Some(f))
    }
}

#[cold]
fn event_invalid(what: &'static str) -> Invalid {
    Invalid { reason: Reason::InvalidEvent, what, at: usize::MAX }
}

/// An integer literal (already checked: `-?(0|[1-9][0-9]*)`) as an i32, or None beyond int32.
#[inline(always)]
fn int32_literal(lit: &[u8]) -> Option<i32> {
    let (neg, digits) = match lit.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, lit),
    };
    if digits.len() > 10 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v * 10 + (d - b'0') as i64;
    }
    if neg {
        v = -v;
    }
    i32::try_from(v).ok()
}

#[inline(always)]
fn d2(s: &[u8], i: usize) -> i32 {
    let a = s[i].wrapping_sub(b'0');
    let b = s[i + 1].wrapping_sub(b'0');
    if a > 9 || b > 9 { -1 } else { (a * 10 + b) as i32 }
}

pub fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

const DAYS_IN_MONTH: [i32; 13] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based civil-date algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)` strictly (1–9 fraction digits, a date that
/// exists, hours 00–23, minutes and seconds 00–59, offsets up to ±23:59) and returns Unix
/// seconds with the offset applied and the fraction floored, or None.
pub fn parse_ts(s: &[u8]) -> Option<i64> {
    parse_ts_cached(s, &mut DateCache::default())
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` that exists, or None.
#[inline(never)]
fn parse_date(s: &[u8]) -> Option<i64> {
    let y1 = d2(s, 0);
    let y2 = d2(s, 2);
    if y1 < 0 || y2 < 0 {
        return None;
    }
    let year = (y1 * 100 + y2) as i64;
    if s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let month = d2(s, 5);
    let day = d2(s, 8);
    if !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let dim = if month == 2 && is_leap_year(year) { 29 } else { DAYS_IN_MONTH[month as usize] };
    if day > dim {
        return None;
    }
    Some(days_from_civil(year, month as i64, day as i64))
}

#[inline(always)]
fn parse_ts_cached(s: &[u8], cache: &mut DateCache) -> Option<i64> {
    let n = s.len();
    if n < 20 {
        return None;
    }
    let date: &[u8; 10] = s[..10].try_into().unwrap();
    let slot = &mut cache.slots
        [(date[9] as usize + 10 * date[8] as usize + 31 * date[6] as usize + 7 * date[3] as usize) & 63];
    let days = if slot.0 == *date {
        slot.1
    } else {
        let d = parse_date(date)?;
        *slot = (*date, d);
        d
    };
    if s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let hh = d2(s, 11);
    let mi = d2(s, 14);
    let ss = d2(s, 17);
    if !(0..=23).contains(&hh) || !(0..=59).contains(&mi) || !(0..=59).contains(&ss) {
        return None;
    }
    let mut i = 19;
    if s[i] == b'.' {
        i += 1;
        let fs = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        let fl = i - fs;
        if !(1..=9).contains(&fl) {
            return None;
        }
    }
    let offset: i64 = match s.get(i) {
        Some(b'Z') => {
            if i + 1 != n {
                return None;
            }
            0
        }
        Some(&z @ (b'+' | b'-')) => {
            if i + 6 != n || s[i + 3] != b':' {
                return None;
            }
            let oh = d2(s, i + 1);
            let om = d2(s, i + 4);
            if !(0..=23).contains(&oh) || !(0..=59).contains(&om) {
                return None;
            }
            let o = (oh * 3600 + om * 60) as i64;
            if z == b'-' { -o } else { o }
        }
        _ => return None,
    };
    Some(days * 86400 + hh as i64 * 3600 + mi as i64 * 60 + ss as i64 - offset)
}
