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
    tails: TailCache,
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
    ///
    /// Tries [`Validator::validate_fast`] first (the common line shape) and falls back to the
    /// full scanner, [`Validator::validate_full`], on any deviation; the fast path only ever
    /// answers "valid, with these fields", never "invalid", so every invalid verdict and reason
    /// comes from the full scanner.
    #[inline]
    pub fn validate(&mut self, buf: &[u8], start: usize, end: usize) -> Result<Event, Invalid> {
        if let Some(ev) = self.validate_fast(buf, start, end) {
            return Ok(ev);
        }
        self.validate_full(buf, start, end)
    }

    /// The reference: the full single-pass scanner, for any line.
    pub fn validate_full(&mut self, buf: &[u8], start: usize, end: usize) -> Result<Event, Invalid> {
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

// ------------------------------------------------------------------------------------------
// The fast path: the common line shape
//
//   {"ts":"…","type":"…","user":"…","value":<int>[,<other members>]}
//
// exactly so up to "value"'s number (no whitespace there), and no byte below 0x20, no byte
// >= 0x80 and no backslash anywhere in the line (one vector pass checks that and maps the
// quotes, and in `validate_line` also finds the line's end). Without escapes a string is exactly
// the bytes between a quote and the next quote, so the four fields are found by comparing the
// fixed pieces between them, and the rest of the line is checked by a scanner that only needs
// the JSON grammar (strings jump to the next quote; spaces are the only whitespace left). Anything
// else — another key order, whitespace among the four fields, tabs or other controls, escapes,
// non-ASCII, a repeated event key, a number that is not a plain int32 literal, a bad ts, an empty
// type/user, any JSON error, a line over FAST_MAX bytes — answers None and the full scanner
// decides. So `Some(ev)` is only ever returned for a line the full scanner accepts with the same
// fields (tests/validator.rs compares both on tricky and mutated lines).

/// Longest line (bytes) the fast path takes: its quote map covers this many bytes.
pub const FAST_MAX: usize = 256;

/// Quote positions of a line: bit `i % 64` of word `i / 64` is set when byte `start + i` is `"`.
struct Quotes([u64; FAST_MAX / 64]);

impl Quotes {
    /// The first quote at or after line offset `from`.
    #[inline(always)]
    fn next(&self, from: usize) -> Option<usize> {
        let mut w = from >> 6;
        if w >= self.0.len() {
            return None;
        }
        let mut m = self.0[w] & (!0u64 << (from & 63));
        loop {
            if m != 0 {
                return Some((w << 6) + m.trailing_zeros() as usize);
            }
            w += 1;
            if w == self.0.len() {
                return None;
            }
            m = self.0[w];
        }
    }
}

/// The quote map of `buf[start..end]` (at most FAST_MAX bytes) and whether the line holds a
/// space, or None when it holds a byte below 0x20, a byte >= 0x80 or a backslash. Bytes after
/// `end` are read but masked off.
#[inline(always)]
fn plain_quotes(buf: &[u8], start: usize, end: usize) -> Option<(Quotes, bool)> {
    let len = end - start;
    debug_assert!(len <= FAST_MAX && end <= buf.len());
    let mut q = [0u64; FAST_MAX / 64];
    let mut spaces = 0u64;
    let mut k = 0;
    while k < len {
        let [bad, quotes, _, sp] = classify_at(buf, start + k);
        let keep = if len - k >= 64 { !0u64 } else { (1u64 << (len - k)) - 1 };
        if bad & keep != 0 {
            return None;
        }
        q[k >> 6] = quotes & keep;
        spaces |= sp & keep;
        k += 64;
    }
    Some((Quotes(q), spaces != 0))
}

/// Bit masks of 64 bytes: bytes below 0x20, >= 0x80 or `\`; quotes; newlines; spaces.
#[inline(always)]
fn classify64(b: &[u8; 64]) -> [u64; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the four loads read the 64 bytes of `b`.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let slash = _mm_set1_epi8(b'\\' as i8);
            let space = _mm_set1_epi8(0x20);
            let newline = _mm_set1_epi8(b'\n' as i8);
            let mut m = [0u64; 4];
            for i in 0..4 {
                let v = _mm_loadu_si128(b.as_ptr().add(16 * i) as *const __m128i);
                // Signed compare: bytes >= 0x80 are negative, so this flags controls and non-ASCII.
                let bad = _mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmplt_epi8(v, space));
                m[0] |= (_mm_movemask_epi8(bad) as u32 as u64) << (16 * i);
                m[1] |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32 as u64) << (16 * i);
                m[2] |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u32 as u64) << (16 * i);
                m[3] |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) as u32 as u64) << (16 * i);
            }
            m
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = [0u64; 4];
        for (i, &c) in b.iter().enumerate() {
            let bit = 1u64 << i;
            if c < 0x20 || c >= 0x80 || c == b'\\' {
                m[0] |= bit;
            }
            if c == b'"' {
                m[1] |= bit;
            }
            if c == b'\n' {
                m[2] |= bit;
            }
            if c == b' ' {
                m[3] |= bit;
            }
        }
        m
    }
}

/// [`classify64`] of the 64 bytes of `buf` at `p` (those left before its end padded with spaces).
#[inline(always)]
fn classify_at(buf: &[u8], p: usize) -> [u64; 4] {
    if p + 64 <= buf.len() { classify64(buf[p..p + 64].try_into().unwrap()) } else { classify_tail(buf, p) }
}

#[cold]
#[inline(never)]
fn classify_tail(buf: &[u8], p: usize) -> [u64; 4] {
    let mut tail = [b' '; 64];
    tail[..buf.len() - p].copy_from_slice(&buf[p..]);
    classify64(&tail)
}

/// Whether `l[at..]` starts with `lit`.
#[inline(always)]
fn piece_at(l: &[u8], at: usize, lit: &[u8]) -> bool {
    l.get(at..at + lit.len()) == Some(lit)
}

/// The number of ASCII digits at `buf[p..end]` (SWAR over 8 bytes at a time; bytes at or
/// after `end` never count).
#[inline(always)]
fn digit_run(buf: &[u8], p: usize, end: usize) -> usize {
    let mut q = p;
    while q + 8 <= buf.len() {
        let x = u64::from_le_bytes(buf[q..q + 8].try_into().unwrap()) ^ 0x3030_3030_3030_3030;
        // Per byte: high bit set unless the byte was '0'..='9' (no carries cross bytes).
        let t = (((x & 0x7f7f_7f7f_7f7f_7f7f) + 0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
        if t != 0 {
            return (q + (t.trailing_zeros() / 8) as usize).min(end) - p;
        }
        q += 8;
        if q >= end {
            return end - p;
        }
    }
    while q < end && buf[q].is_ascii_digit() {
        q += 1;
    }
    q.min(end) - p
}

/// The fast path's scanner for a JSON number at `buf[p]` (`-` or a digit; the line ends at
/// `end`): where it ends, or None when not sure (a leading zero followed by digits, a
/// malformed number), which leaves the line to the full scanner.
#[inline(always)]
fn plain_number(buf: &[u8], p: usize, end: usize) -> Option<usize> {
    let mut q = p + (buf[p] == b'-') as usize;
    let n = digit_run(buf, q, end);
    if n == 0 || (n > 1 && buf[q] == b'0') {
        return None;
    }
    q += n;
    if q < end && matches!(buf[q], b'.' | b'e' | b'E') {
        // A fraction or an exponent: the full grammar.
        let mut s = Scanner { b: &buf[..end], full: buf, p, e: end };
        s.scan_number().ok()?;
        return Some(s.p);
    }
    Some(q)
}

/// The fast path's scanner for the rest of the top-level object, from `p` just after the
/// `value` number up to `end` (the line `buf[start..end]` has no escapes, controls or
/// non-ASCII; `q` maps its quotes): `(,"key":value)*}` and spaces up to the end, with no
/// top-level key among the four event keys. true: all of it is valid JSON; false: not sure,
/// the full scanner decides. Iterative, with the container kinds on a bit stack. Without
/// SPACES the line holds no space (nothing to skip between tokens).
fn plain_tail<const SPACES: bool>(buf: &[u8], start: usize, end: usize, q: &Quotes, mut p: usize) -> bool {
    let b = &buf[..end];
    let sp = |mut p: usize| {
        if SPACES {
            while p < end && b[p] == b' ' {
                p += 1;
            }
        }
        p
    };
    // Nesting: the container at level d (the top-level object is level 1) is an array when
    // bit d - 1 of `arrays` is set.
    let mut depth: u32 = 1;
    let mut arrays: u64 = 0;
    loop {
        // After a value: ',' or the end of the container.
        p = sp(p);
        if p >= end {
            return false;
        }
        let in_array = arrays >> (depth - 1) & 1 != 0;
        match (b[p], in_array) {
            (b',', false) => {
                // A member: "key": (the four event keys only matter at the top level).
                p = sp(p + 1);
                if p >= end || b[p] != b'"' {
                    return false;
                }
                let Some(ke) = q.next(p + 1 - start) else { return false };
                let ke = start + ke;
                if depth == 1 && classify(&b[p + 1..ke]) != 0 {
                    return false;
                }
                p = sp(ke + 1);
                if p >= end || b[p] != b':' {
                    return false;
                }
                p += 1;
            }
            (b',', true) => p += 1,
            (b'}', false) | (b']', true) => {
                p += 1;
                if depth == 1 {
                    return sp(p) == end;
                }
                depth -= 1;
                continue;
            }
            _ => return false,
        }
        // A value (at level depth + 1); opening containers loops here until a scalar or an
        // empty container.
        loop {
            p = sp(p);
            if p >= end {
                return false;
            }
            match b[p] {
                b'"' => {
                    let Some(c) = q.next(p + 1 - start) else { return false };
                    p = start + c + 1;
                }
                b'-' | b'0'..=b'9' => match plain_number(buf, p, end) {
                    Some(e) => p = e,
                    None => return false,
                },
                b't' if b[p..].starts_with(b"true") => p += 4,
                b'f' if b[p..].starts_with(b"false") => p += 5,
                b'n' if b[p..].starts_with(b"null") => p += 4,
                c @ (b'{' | b'[') => {
                    if depth + 1 > MAX_DEPTH {
                        return false;
                    }
                    depth += 1;
                    let array = c == b'[';
                    if array {
                        arrays |= 1 << (depth - 1);
                    } else {
                        arrays &= !(1 << (depth - 1));
                    }
                    p = sp(p + 1);
                    if p >= end {
                        return false;
                    }
                    if b[p] == if array { b']' } else { b'}' } {
                        p += 1;
                        depth -= 1;
                    } else if array {
                        continue;
                    } else {
                        if b[p] != b'"' {
                            return false;
                        }
                        let Some(ke) = q.next(p + 1 - start) else { return false };
                        p = sp(start + ke + 1);
                        if p >= end || b[p] != b':' {
                            return false;
                        }
                        p += 1;
                        continue;
                    }
                }
                _ => return false,
            }
            break;
        }
    }
}

// ------------------------------------------------------------------------------------------
// Tail templates: the members after "value" mostly repeat their shape from line to line
// (`,"metadata":{"src":"…","session":…}}`), only the contents of string values and the digits
// of integers change. A template is the tail of a line that `plain_tail` accepted, cut into
// literal bytes and holes: the contents of a string value (between its quotes, which stay
// literal) and an integer literal (`-?(0|[1-9][0-9]*)`); keys, punctuation, spaces, `true`/
// `false`/`null` and other numbers are literal. A line (no escapes, controls or non-ASCII: its
// string contents end at the next quote) whose tail is those literals with a string content and
// an integer in the holes is the same sequence of JSON tokens with other string contents and
// other integers, so it is valid JSON too, with the same keys at the top level (none of the
// four). Anything else — another shape, a number that is not a plain integer where the hole
// is, a leading zero, a quote too many — does not match, and `plain_tail` decides.

/// Literal pieces per template, at most (a longer tail is not made a template).
const TAIL_SEGS: usize = 8;
/// Bytes per literal piece, at most (a multiple of 16: pieces are compared 16 bytes at a time).
const TAIL_LIT: usize = 48;
/// Templates kept; when all are used a new one replaces the last (the least used: a template
/// that matches moves one place forward).
const TAIL_TEMPLATES: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hole {
    /// The contents of a string value: up to the next quote.
    Str,
    /// An integer literal.
    Int,
    /// The end of the line.
    End,
}

/// A literal piece (`len` bytes of `lit`, the rest zero) and what follows it.
#[derive(Clone, Copy)]
struct Seg {
    lit: [u8; TAIL_LIT],
    len: u8,
    then: Hole,
}

#[derive(Clone, Copy)]
struct TailTemplate {
    segs: [Seg; TAIL_SEGS],
    n: u8,
}

#[derive(Default)]
struct TailCache {
    templates: Vec<TailTemplate>,
    /// The templates' indexes in the order they are tried.
    order: Vec<u8>,
    /// Tails `plain_tail` had to check (a template is made from one in 16 of them).
    misses: u32,
}

/// Whether `buf[p..p + n]` (which must end by `end`) equals `lit[..n]`.
#[inline(always)]
fn lit_eq(buf: &[u8], p: usize, end: usize, lit: &[u8; TAIL_LIT], n: usize) -> bool {
    if p + n > end {
        return false;
    }
    let mut i = 0;
    while i < n {
        let m = (n - i).min(16);
        let at = p + i;
        if at + 16 <= buf.len() {
            let a: &[u8; 16] = buf[at..at + 16].try_into().unwrap();
            let b: &[u8; 16] = lit[i..i + 16].try_into().unwrap();
            if !eq_mask16(a, b) & ((1u32 << m) - 1) != 0 {
                return false;
            }
        } else if buf[at..at + m] != lit[i..i + m] {
            return false;
        }
        i += 16;
    }
    true
}

/// Bit i set when `a[i] == b[i]`.
#[inline(always)]
fn eq_mask16(a: &[u8; 16], b: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; the loads read the 16 bytes of a and b.
        unsafe {
            let va = _mm_loadu_si128(a.as_ptr() as *const __m128i);
            let vb = _mm_loadu_si128(b.as_ptr() as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi8(va, vb)) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (0..16).fold(0u32, |m, i| m | ((a[i] == b[i]) as u32) << i)
    }
}

/// The end of the integer literal `-?(0|[1-9][0-9]*)` at `buf[p]` (the line ends at `end`), or
/// None when there is none (a leading zero followed by digits counts as none).
#[inline(always)]
fn int_hole(buf: &[u8], p: usize, end: usize) -> Option<usize> {
    let ds = p + (p < end && buf[p] == b'-') as usize;
    let n = digit_run(buf, ds, end);
    if n == 0 || (n > 1 && buf[ds] == b'0') {
        return None;
    }
    Some(ds + n)
}

impl TailTemplate {
    /// Whether the tail `buf[p..end]` of the line starting at `start` (quotes `q`) is this
    /// template with a string content or an integer in each hole.
    #[inline(always)]
    fn matches(&self, buf: &[u8], start: usize, end: usize, q: &Quotes, mut p: usize) -> bool {
        for seg in &self.segs[..self.n as usize] {
            let n = seg.len as usize;
            if !lit_eq(buf, p, end, &seg.lit, n) {
                return false;
            }
            p += n;
            match seg.then {
                // The closing quote starts the next literal.
                Hole::Str => match q.next(p - start) {
                    Some(c) => p = start + c,
                    None => return false,
                },
                Hole::Int => match int_hole(buf, p, end) {
                    Some(e) => p = e,
                    None => return false,
                },
                Hole::End => return p == end,
            }
        }
        false
    }

    /// The template of the tail `buf[p..end]`, which `plain_tail` accepted (so it is valid
    /// JSON: every quote outside a string opens one, every `-` or digit outside a string starts
    /// a number), or None when it has too many or too long pieces.
    fn make(buf: &[u8], start: usize, end: usize, q: &Quotes, p: usize) -> Option<TailTemplate> {
        let b = &buf[..end];
        let mut t = TailTemplate { segs: [Seg { lit: [0; TAIL_LIT], len: 0, then: Hole::End }; TAIL_SEGS], n: 0 };
        let push = |t: &mut TailTemplate, lit: &[u8], then: Hole| -> Option<()> {
            if lit.len() > TAIL_LIT || t.n as usize == TAIL_SEGS {
                return None;
            }
            let seg = &mut t.segs[t.n as usize];
            seg.lit[..lit.len()].copy_from_slice(lit);
            seg.len = lit.len() as u8;
            seg.then = then;
            t.n += 1;
            Some(())
        };
        let mut lit_start = p;
        let mut i = p;
        while i < end {
            match b[i] {
                b'"' => {
                    let close = start + q.next(i + 1 - start)?;
                    let mut j = close + 1;
                    while j < end && b[j] == b' ' {
                        j += 1;
                    }
                    if j >= end || b[j] != b':' {
                        // A string value: its contents are a hole.
                        push(&mut t, &b[lit_start..=i], Hole::Str)?;
                        lit_start = close;
                    }
                    i = close + 1;
                }
                b'-' | b'0'..=b'9' => {
                    let mut s = Scanner { b, full: buf, p: i, e: end };
                    let integer = s.scan_number().ok()?;
                    if integer {
                        push(&mut t, &b[lit_start..i], Hole::Int)?;
                        lit_start = s.p;
                    }
                    i = s.p;
                }
                _ => i += 1,
            }
        }
        push(&mut t, &b[lit_start..end], Hole::End)?;
        Some(t)
    }
}

impl TailCache {
    /// Whether the tail matches one of the templates.
    #[inline(always)]
    fn matches(&mut self, buf: &[u8], start: usize, end: usize, q: &Quotes, p: usize) -> bool {
        let templates = &self.templates;
        match self.order.iter().position(|&t| templates[t as usize].matches(buf, start, end, q, p)) {
            Some(0) => true,
            Some(i) => {
                self.order.swap(i - 1, i);
                true
            }
            None => false,
        }
    }

    /// After `plain_tail` accepted the tail: now and then, make it a template.
    #[cold]
    fn learn(&mut self, buf: &[u8], start: usize, end: usize, q: &Quotes, p: usize) {
        self.misses = self.misses.wrapping_add(1);
        if self.misses % 16 != 1 {
            return;
        }
        let Some(t) = TailTemplate::make(buf, start, end, q, p) else { return };
        if self.templates.len() < TAIL_TEMPLATES {
            self.order.push(self.templates.len() as u8);
            self.templates.push(t);
        } else {
            self.templates[self.order[TAIL_TEMPLATES - 1] as usize] = t;
        }
    }
}

impl Validator {
    /// The fast path (see above): `Some(event)` for a line of the common shape that the full
    /// scanner accepts with exactly these fields; None when the line has another shape (valid
    /// or not), which [`Validator::validate_full`] then decides.
    #[inline]
    pub fn validate_fast(&mut self, buf: &[u8], start: usize, end: usize) -> Option<Event> {
        let len = end.checked_sub(start)?;
        if len > FAST_MAX || end > buf.len() {
            return None;
        }
        let (q, spaces) = plain_quotes(buf, start, end)?;
        self.fast_core(buf, start, end, &q, spaces)
    }

    /// Validates the line that starts at `buf[start]` and ends at the next `\n` (which `buf`
    /// must hold): returns where that `\n` is and the verdict of [`Validator::validate`] for
    /// the line. The search for the newline and the fast path's classification of the line
    /// are one vector pass.
    #[inline]
    pub fn validate_line(&mut self, buf: &[u8], start: usize) -> (usize, Result<Event, Invalid>) {
        // Filled in place and passed by reference: a copy (four u64 stores read back as two
        // 16-byte loads) stalled on store forwarding.
        let mut q = Quotes([0u64; FAST_MAX / 64]);
        let mut spaces = 0u64;
        let mut k = 0;
        let end = loop {
            let [bad, quotes, nl, sp] = classify_at(buf, start + k);
            if nl != 0 {
                let n = nl.trailing_zeros() as usize;
                let keep = (1u64 << n) - 1;
                let end = start + k + n;
                if bad & keep != 0 {
                    return (end, self.validate_full(buf, start, end));
                }
                q.0[k >> 6] = quotes & keep;
                spaces |= sp & keep;
                break end;
            }
            if bad != 0 || k + 64 >= FAST_MAX {
                let from = start + k + 64;
                let end = from + memchr::memchr(b'\n', &buf[from..]).expect("the line ends with a newline");
                return (end, self.validate_full(buf, start, end));
            }
            q.0[k >> 6] = quotes;
            spaces |= sp;
            k += 64;
        };
        let ev = match self.fast_core(buf, start, end, &q, spaces != 0) {
            Some(ev) => Ok(ev),
            None => self.validate_full(buf, start, end),
        };
        (end, ev)
    }

    /// The fast path over a line of at most FAST_MAX bytes without escapes, controls or
    /// non-ASCII bytes whose quotes are `q`; `spaces`: whether it holds a space.
    #[inline(always)]
    fn fast_core(&mut self, buf: &[u8], start: usize, end: usize, q: &Quotes, spaces: bool) -> Option<Event> {
        const TS: &[u8] = b"{\"ts\":\"";
        const TYPE: &[u8] = b"\",\"type\":\"";
        const USER: &[u8] = b"\",\"user\":\"";
        const VALUE: &[u8] = b"\",\"value\":";
        let l = &buf[start..end];
        if !l.starts_with(TS) {
            return None;
        }
        let ts_s = TS.len();
        let ts_e = q.next(ts_s)?;
        if !piece_at(l, ts_e, TYPE) {
            return None;
        }
        let ty_s = ts_e + TYPE.len();
        let ty_e = q.next(ty_s)?;
        if ty_e == ty_s || !piece_at(l, ty_e, USER) {
            return None;
        }
        let us_s = ty_e + USER.len();
        let us_e = q.next(us_s)?;
        if us_e == us_s || !piece_at(l, us_e, VALUE) {
            return None;
        }
        // "value": an integer literal (a fraction, an exponent or a leading zero: not sure).
        let vs = us_e + VALUE.len();
        let ds = vs + (l.get(vs) == Some(&b'-')) as usize;
        let n = digit_run(buf, start + ds, end);
        if n == 0 || (n > 1 && l[ds] == b'0') {
            return None;
        }
        let ve = ds + n;
        if matches!(l.get(ve), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = int32_literal(&l[vs..ve])?;
        // The other members: any key but the four (a repeated one is the full scanner's case).
        let tp = start + ve;
        if !self.tails.matches(buf, start, end, q, tp) {
            let tail_ok = match spaces {
                false => plain_tail::<false>(buf, start, end, q, tp),
                true => plain_tail::<true>(buf, start, end, q, tp),
            };
            if !tail_ok {
                return None;
            }
            self.tails.learn(buf, start, end, q, tp);
        }
        let epoch = parse_ts_cached(&l[ts_s..ts_e], &mut self.dates)?;
        Some(Event {
            epoch,
            value,
            type_loc: Loc::Input(start + ty_s, start + ty_e),
            user_loc: Loc::Input(start + us_s, start + us_e),
        })
    }
}

#[cfg(test)]
mod tail_template_tests {
    use super::*;

    /// The quote map of a whole line `l` (no escapes, controls or non-ASCII) and where its tail
    /// starts (after `"value":<int>`).
    fn line(l: &str) -> (Vec<u8>, Quotes, usize) {
        let mut buf = l.as_bytes().to_vec();
        let (q, _) = plain_quotes(&buf, 0, buf.len()).expect("a plain line");
        let v = l.find("\"value\":").unwrap() + 8;
        let tp = int_hole(&buf, v, buf.len()).unwrap();
        buf.extend_from_slice(b"\n\"}]0123456789 trailing bytes");
        (buf, q, tp)
    }

    fn template(l: &str) -> TailTemplate {
        let (buf, q, tp) = line(l);
        let end = l.len();
        assert!(plain_tail::<true>(&buf, 0, end, &q, tp), "not a tail plain_tail accepts: {l}");
        TailTemplate::make(&buf, 0, end, &q, tp).expect("a template")
    }

    fn matches(t: &TailTemplate, l: &str) -> bool {
        let (buf, q, tp) = line(l);
        let m = t.matches(&buf, 0, l.len(), &q, tp);
        // A match is only ever a tail plain_tail accepts too.
        if m {
            assert!(plain_tail::<true>(&buf, 0, l.len(), &q, tp), "template matched a tail plain_tail rejects: {l}");
        }
        m
    }

    const HEAD: &str = r#"{"ts":"2026-01-01T00:00:10Z","type":"a","user":"b","value":1"#;

    #[test]
    fn string_contents_and_integers_are_holes_everything_else_is_literal() {
        let t = template(&format!(r#"{HEAD},"m":{{"s":"ios","n":278596,"f":1.5,"b":true,"a":["x",-3]}}}}"#));
        let take = [
            r#","m":{"s":"android","n":-0,"f":1.5,"b":true,"a":["",12]}}"#,
            r#","m":{"s":"}},{:[","n":0,"f":1.5,"b":true,"a":["y z",-2147483649]}}"#,
            r#","m":{"s":"ios","n":99999999999999999999,"f":1.5,"b":true,"a":["x",-3]}}"#,
        ];
        for tail in take {
            assert!(matches(&t, &format!("{HEAD}{tail}")), "should match: {tail}");
        }
        let decline = [
            r#","m":{"s":"ios","n":0278596,"f":1.5,"b":true,"a":["x",-3]}}"#, // leading zero
            r#","m":{"s":"ios","n":-,"f":1.5,"b":true,"a":["x",-3]}}"#,       // bare minus
            r#","m":{"s":"ios","n":2.5,"f":1.5,"b":true,"a":["x",-3]}}"#,     // a fraction
            r#","m":{"s":"ios","n":2e5,"f":1.5,"b":true,"a":["x",-3]}}"#,     // an exponent
            r#","m":{"s":"ios","n":1,"f":1.6,"b":true,"a":["x",-3]}}"#,       // other literal number
            r#","m":{"s":"ios","n":1,"f":1.5,"b":false,"a":["x",-3]}}"#,      // other literal
            r#","m":{"s":"i"os","n":1,"f":1.5,"b":true,"a":["x",-3]}}"#,      // a quote too many
            r#","m":{"s":ios,"n":1,"f":1.5,"b":true,"a":["x",-3]}}"#,         // not a string
            r#","m":{"s":"ios","n":1,"f":1.5,"b":true,"a":["x",-3]}}}"#,      // trailing brace
            r#","m":{"s":"ios","n":1,"f":1.5,"b":true,"a":["x",-3]} "#,       // one brace short
            r#","m":{"s":"ios","n":1,"f":1.5,"b":true,"a":["x",-3]"#,         // truncated
            r#","ts":{"s":"ios","n":1,"f":1.5,"b":true,"a":["x",-3]}}"#,      // another key
            r#","m":{"s":"ios","n":1,"f":1.5,"b":true,"a":["x",-3,4]}}"#,     // another shape
            r#","m":{"s":"ios", "n":1,"f":1.5,"b":true,"a":["x",-3]}}"#,      // a space
        ];
        for tail in decline {
            assert!(!matches(&t, &format!("{HEAD}{tail}")), "should not match: {tail}");
        }
    }

    #[test]
    fn keys_stay_literal_and_spaces_are_kept() {
        let t = template(&format!(r#"{HEAD} , "k" : "v" , "n" : [ 1 , "w" ] }} "#));
        assert!(matches(&t, &format!(r#"{HEAD} , "k" : "other" , "n" : [ -20 , "" ] }} "#)));
        assert!(!matches(&t, &format!(r#"{HEAD} , "K" : "v" , "n" : [ 1 , "w" ] }} "#)));
        assert!(!matches(&t, &format!(r#"{HEAD} , "k" : "v" , "n" : [ 1 , "w" ] }}"#)));
        assert!(!matches(&t, &format!(r#"{HEAD} , "k" : "v" , "n" : [ 1 , "w" ]  }} "#)));
        // A tail that ends right after the value: only the closing brace.
        let t = template(&format!("{HEAD}}}"));
        assert!(matches(&t, &format!("{HEAD}}}")));
        assert!(!matches(&t, &format!("{HEAD}}} ")));
        assert!(!matches(&t, &format!(r#"{HEAD},"x":1}}"#)));
    }

    #[test]
    fn tails_with_too_many_or_too_long_pieces_make_no_template() {
        let many = format!(r#"{HEAD},"a":[1,2,3,4,5,6,7,8,9]}}"#);
        let (buf, q, tp) = line(&many);
        assert!(TailTemplate::make(&buf, 0, many.len(), &q, tp).is_none());
        let long = format!(r#"{HEAD},"{}":true}}"#, "k".repeat(TAIL_LIT));
        let (buf, q, tp) = line(&long);
        assert!(TailTemplate::make(&buf, 0, long.len(), &q, tp).is_none());
    }
}
