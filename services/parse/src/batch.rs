//! The parse stage's work on one batch: checks the `RawLines` framing, validates every line and
//! builds the `Events` columns (type/user dictionary-encoded per batch) and the dead letters.

use bytes::Bytes;

use prost::encoding::{encode_varint, encoded_len_varint, message};

use crate::pb::{BatchCounters, BatchMeta, DeadLetter, DeadLetterReason, Events, RawLines};
use crate::validate::{Invalid, Loc, Reason, Validator};

/// Why a `RawLines` payload cannot be parsed (the stream fails with INVALID_ARGUMENT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Result of parsing one batch's lines.
pub struct Parsed {
    pub events: Events,
    /// This batch's own dead letters, in input order.
    pub dead_letters: Vec<DeadLetter>,
    /// Lines in the payload.
    pub lines: u64,
}

/// A small open-addressing hash table from byte strings to dictionary indexes. Keys of up to
/// 16 bytes are held in the slots themselves (a lookup touches one slot, not the input), longer
/// ones are compared through their entry. An entry is a range of the batch's input (no copy,
/// no reference count) or, for a decoded escaped string, of the dictionary's own arena; it also
/// keeps the packed key, so short entries are written out without touching the input again
/// (the first occurrence of a user is anywhere in a batch of several MiB: a cache miss each).
struct Dict {
    slots: Vec<Slot>,
    /// 64 - log2(slots.len()): a slot index is the top bits of the hash.
    shift: u32,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

/// A dictionary entry: `len` bytes at `start` of the input, or of the arena when `arena`;
/// `k0`/`k1` as in its slot.
#[derive(Clone, Copy)]
struct Entry {
    k0: u64,
    k1: u64,
    start: u32,
    len: u32,
    arena: bool,
}

/// A table slot: `idx` is the entry index + 1 (0: empty); `k0`/`k1` the packed key (keys up
/// to 16 bytes) or its hash (longer keys); `len` its length.
#[derive(Clone, Copy, Default)]
struct Slot {
    k0: u64,
    k1: u64,
    len: u32,
    idx: u32,
}

/// A key looked up (packed and hashed) but not yet resolved: the table slot it starts at has
/// been prefetched, so resolving it a little later (after the next line is validated) does not
/// wait for memory.
#[derive(Clone, Copy)]
struct Probe {
    k0: u64,
    k1: u64,
    len: u32,
    hash: u64,
}

#[inline(always)]
fn fmix(mut h: u64) -> u64 {
    // murmur3's fmix64.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The packed form of a key: for up to 16 bytes, (two possibly overlapping little-endian loads,
/// which together with the length determine the key, see [`unpack`]); longer keys get a hash
/// and (hash, 0).
#[inline(always)]
fn pack(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    let w4 = |i: usize| u32::from_le_bytes([key[i], key[i + 1], key[i + 2], key[i + 3]]) as u64;
    let w8 = |i: usize| u64::from_le_bytes(key[i..i + 8].try_into().unwrap());
    match n {
        0 => (0, 0),
        1..=3 => (key[0] as u64 | (key[n / 2] as u64) << 8 | (key[n - 1] as u64) << 16, 0),
        4..=7 => (w4(0) | w4(n - 4) << 32, 0),
        8..=16 => (w8(0), w8(n - 8)),
        _ => {
            const K: u64 = 0x517c_c1b7_2722_0a95;
            let mut h: u64 = n as u64;
            let mut chunks = key.chunks_exact(8);
            for c in &mut chunks {
                h = (h.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(K);
            }
            h = (h.rotate_left(5) ^ w8(n - 8)).wrapping_mul(K);
            (fmix(h), 0)
        }
    }
}

/// The key of up to 16 bytes that [`pack`] made `(k0, k1)` of, in the first `n` bytes.
#[inline(always)]
fn unpack(k0: u64, k1: u64, n: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    match n {
        0 => {}
        1..=3 => {
            b[0] = k0 as u8;
            b[n / 2] = (k0 >> 8) as u8;
            b[n - 1] = (k0 >> 16) as u8;
        }
        4..=7 => {
            b[n - 4..n].copy_from_slice(&((k0 >> 32) as u32).to_le_bytes());
            b[..4].copy_from_slice(&(k0 as u32).to_le_bytes());
        }
        _ => {
            b[n - 8..n].copy_from_slice(&k1.to_le_bytes());
            b[..8].copy_from_slice(&k0.to_le_bytes());
        }
    }
    b
}

/// One multiply: the table index is taken from the top bits.
#[inline(always)]
fn slot_hash(k0: u64, k1: u64, len: usize) -> u64 {
    (k0 ^ k1.rotate_left(29) ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults and reads nothing into the program.
    unsafe {
        use std::arch::x86_64::*;
        _mm_prefetch(p as *const T as *const i8, _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Dict {
    fn new() -> Self {
        Dict { slots: vec![Slot::default(); 64], shift: 64 - 6, entries: Vec::new(), arena: Vec::new() }
    }

    #[inline(always)]
    fn bytes<'a>(&'a self, input: &'a [u8], e: Entry) -> &'a [u8] {
        let (s, n) = (e.start as usize, e.len as usize);
        if e.arena { &self.arena[s..s + n] } else { &input[s..s + n] }
    }

    /// Packs and hashes `key` and prefetches the slot its search starts at.
    #[inline(always)]
    fn probe(&self, key: &[u8]) -> Probe {
        let (k0, k1) = pack(key);
        let hash = slot_hash(k0, k1, key.len());
        prefetch(&self.slots[(hash >> self.shift) as usize]);
        Probe { k0, k1, len: key.len() as u32, hash }
    }

    /// The index of `key`, added when new. `at`: where `key` starts in `input` (None: it is
    /// not in the input, e.g. a decoded escaped string; it is copied to the arena).
    #[inline(always)]
    fn intern(&mut self, key: &[u8], at: Option<usize>, input: &[u8]) -> u32 {
        let p = self.probe(key);
        self.resolve(p, key, at, input)
    }

    /// [`Dict::intern`] of the key `p` was made of.
    #[inline(always)]
    fn resolve(&mut self, p: Probe, key: &[u8], at: Option<usize>, input: &[u8]) -> u32 {
        let Probe { k0, k1, len, hash } = p;
        let n = len as usize;
        let mask = self.slots.len() - 1;
        let mut i = (hash >> self.shift) as usize;
        loop {
            let s = self.slots[i];
            if s.idx == 0 {
                break;
            }
            if s.k0 == k0
                && s.k1 == k1
                && s.len == len
                && (n <= 16 || self.bytes(input, self.entries[s.idx as usize - 1]) == key)
            {
                return s.idx - 1;
            }
            i = (i + 1) & mask;
        }
        let idx = self.entries.len() as u32;
        let entry = match at {
            Some(start) => Entry { k0, k1, start: start as u32, len, arena: false },
            None => {
                let start = self.arena.len();
                self.arena.extend_from_slice(key);
                Entry { k0, k1, start: start as u32, len, arena: true }
            }
        };
        self.entries.push(entry);
        self.slots[i] = Slot { k0, k1, len, idx: idx + 1 };
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        idx
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
        self.shift -= 1;
        let mask = n - 1;
        for s in old.into_iter().filter(|s| s.idx != 0) {
            let mut i = (slot_hash(s.k0, s.k1, s.len as usize) >> self.shift) as usize;
            while self.slots[i].idx != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// Empties the table for the next batch (keeping its size unless it grew very large).
    fn reset(&mut self) {
        if self.slots.len() > 1 << 18 {
            self.slots = vec![Slot::default(); 64];
            self.shift = 64 - 6;
        } else {
            self.slots.fill(Slot::default());
        }
        self.entries.clear();
        self.arena.clear();
    }

    /// The entries as `Bytes`: zero-copy slices of `input` where they lie in it.
    fn to_bytes(&self, input: &Bytes) -> Vec<Bytes> {
        self.entries
            .iter()
            .map(|&e| match e.arena {
                false => input.slice(e.start as usize..(e.start + e.len) as usize),
                true => Bytes::copy_from_slice(self.bytes(input, e)),
            })
            .collect()
    }

    /// Encoded length of the entries as repeated `bytes` field (one-byte key).
    fn field_len(&self) -> usize {
        self.entries.iter().map(|e| 1 + encoded_len_varint(e.len as u64) + e.len as usize).sum()
    }

    fn encode_field(&self, key: u8, input: &[u8], out: &mut Vec<u8>) {
        for &e in &self.entries {
            let n = e.len as usize;
            if n < 128 {
                out.push(key);
                out.push(n as u8); // a one-byte varint
                if n <= 16 {
                    // From the packed key: one 16-byte store, then cut to its length.
                    let l = out.len();
                    out.extend_from_slice(&unpack(e.k0, e.k1, n));
                    out.truncate(l + n);
                    continue;
                }
            } else {
                out.push(key);
                encode_varint(n as u64, out);
            }
            out.extend_from_slice(self.bytes(input, e));
        }
    }
}

/// Per-thread parser state, reused across batches: the validator, the dictionaries and the
/// event columns of the batch last parsed.
pub struct BatchParser {
    validator: Validator,
    types: Dict,
    users: Dict,
    ts: Vec<u8>,
    value: Vec<u8>,
    type_index: Vec<u8>,
    user_index: Vec<u8>,
    count: u32,
}

impl Default for BatchParser {
    fn default() -> Self {
        Self::new()
    }
}

pub fn dead_letter_reason(r: Reason) -> DeadLetterReason {
    match r {
        Reason::InvalidJson => DeadLetterReason::InvalidJson,
        Reason::InvalidEvent => DeadLetterReason::InvalidEvent,
    }
}

fn dead_letter(line: u64, inv: &Invalid) -> DeadLetter {
    DeadLetter { line, reason: dead_letter_reason(inv.reason) as i32, detail: inv.detail() }
}

/// One-byte protobuf keys (field number << 3 | wire type) of the fields written by hand.
const KEY_LEN: u8 = 2; // wire type LEN
const fn key(field: u8, wire: u8) -> u8 {
    field << 3 | wire
}

/// Encoded length of a `bytes` field holding `n` bytes (omitted when empty, as prost does).
fn bytes_field_len(n: usize) -> usize {
    if n == 0 { 0 } else { 1 + encoded_len_varint(n as u64) + n }
}

fn encode_bytes_field(key: u8, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        out.push(key);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
}

impl BatchParser {
    pub fn new() -> Self {
        BatchParser {
            validator: Validator::new(),
            types: Dict::new(),
            users: Dict::new(),
            ts: Vec::new(),
            value: Vec::new(),
            type_index: Vec::new(),
            user_index: Vec::new(),
            count: 0,
        }
    }

    /// Checks the framing of `raw`: `line_numbers` holds one LE u64 per line, and `data` is
    /// lines each followed by one `\n`.
    pub fn check(raw: &RawLines) -> Result<usize, Malformed> {
        let count = Self::check_shape(raw)?;
        let lines = memchr::memchr_iter(b'\n', &raw.data).count();
        if lines != count {
            return Err(Self::miscounted(raw));
        }
        Ok(count)
    }

    /// The part of [`BatchParser::check`] that costs no pass over the data: `line_numbers` is
    /// whole u64s and `data` ends with a newline. The number of lines is checked by
    /// [`BatchParser::parse_encoded`] as it goes.
    pub fn check_shape(raw: &RawLines) -> Result<usize, Malformed> {
        let nl = raw.line_numbers.len();
        if !nl.is_multiple_of(8) {
            return Err(Malformed(format!("line_numbers has {nl} bytes, not a multiple of 8")));
        }
        let count = nl / 8;
        let data = &raw.data[..];
        if !data.is_empty() && data[data.len() - 1] != b'\n' {
            return Err(Malformed("data does not end with a newline".to_string()));
        }
        Ok(count)
    }

    #[cold]
    fn miscounted(raw: &RawLines) -> Malformed {
        let lines = memchr::memchr_iter(b'\n', &raw.data).count();
        let count = raw.line_numbers.len() / 8;
        Malformed(format!("data holds {lines} lines but line_numbers has {count} entries"))
    }

    /// Validates every line of `raw` (checked with [`BatchParser::check_shape`] at least) into
    /// the parser's columns and dictionaries; returns this batch's own dead letters, in input
    /// order, or the error of [`BatchParser::check`] when `data` holds another number of lines
    /// than `line_numbers`.
    fn parse_columns(&mut self, raw: &RawLines) -> Result<Vec<DeadLetter>, Malformed> {
        let buf: &[u8] = &raw.data;
        let count = raw.line_numbers.len() / 8;
        self.types.reset();
        self.users.reset();
        for col in [&mut self.ts, &mut self.value, &mut self.type_index, &mut self.user_index] {
            col.clear();
        }
        self.ts.reserve(count * 8);
        self.value.reserve(count * 4);
        self.type_index.reserve(count * 4);
        self.user_index.reserve(count * 4);
        let mut dead = Vec::new();
        let mut n_valid: u32 = 0;
        let mut pos = 0usize;
        let mut i = 0usize;
        // The user of the last valid line, looked up (its slot prefetched) but resolved only
        // after the next line is validated, which hides the table's cache misses; users are
        // still interned in line order, so the dictionary is the same.
        let mut pending: Option<(Probe, usize)> = None;
        while pos < buf.len() {
            if i == count {
                return Err(Self::miscounted(raw));
            }
            let (nl, verdict) = self.validator.validate_line(buf, pos);
            match verdict {
                Ok(ev) => {
                    self.ts.extend_from_slice(&ev.epoch.to_le_bytes());
                    self.value.extend_from_slice(&ev.value.to_le_bytes());
                    let t = match ev.type_loc {
                        Loc::Input(s, e) => self.types.intern(&buf[s..e], Some(s), buf),
                        Loc::Scratch => self.types.intern(self.validator.type_bytes(buf, &ev), None, buf),
                    };
                    self.type_index.extend_from_slice(&t.to_le_bytes());
                    if let Some((p, s)) = pending.take() {
                        let u = self.users.resolve(p, &buf[s..s + p.len as usize], Some(s), buf);
                        self.user_index.extend_from_slice(&u.to_le_bytes());
                    }
                    match ev.user_loc {
                        Loc::Input(s, e) => pending = Some((self.users.probe(&buf[s..e]), s)),
                        Loc::Scratch => {
                            // Decoded into the validator's scratch buffer, which the next line
                            // overwrites: resolved now.
                            let u = self.users.intern(self.validator.user_bytes(buf, &ev), None, buf);
                            self.user_index.extend_from_slice(&u.to_le_bytes());
                        }
                    }
                    n_valid += 1;
                }
                Err(inv) => {
                    let line_no = u64::from_le_bytes(raw.line_numbers[i * 8..i * 8 + 8].try_into().unwrap());
                    dead.push(dead_letter(line_no, &inv))
                }
            }
            pos = nl + 1;
            i += 1;
        }
        if let Some((p, s)) = pending.take() {
            let u = self.users.resolve(p, &buf[s..s + p.len as usize], Some(s), buf);
            self.user_index.extend_from_slice(&u.to_le_bytes());
        }
        if i != count {
            return Err(Self::miscounted(raw));
        }
        self.count = n_valid;
        Ok(dead)
    }

    /// Validates every line of `raw` (already checked with [`BatchParser::check`]).
    pub fn parse(&mut self, raw: &RawLines) -> Parsed {
        let dead = self.parse_columns(raw).expect("the batch was checked");
        Parsed {
            events: Events {
                count: self.count,
                ts_seconds: Bytes::copy_from_slice(&self.ts),
                value: Bytes::copy_from_slice(&self.value),
                type_index: Bytes::copy_from_slice(&self.type_index),
                type_dict: self.types.to_bytes(&raw.data),
                user_index: Bytes::copy_from_slice(&self.user_index),
                user_dict: self.users.to_bytes(&raw.data),
                tag_set_index: Bytes::new(),
                tag_sets: Vec::new(),
            },
            dead_letters: dead,
            lines: (raw.line_numbers.len() / 8) as u64,
        }
    }

    /// Encoded length of the `Events` of the batch last parsed.
    fn events_len(&self) -> usize {
        let count = if self.count == 0 { 0 } else { 1 + encoded_len_varint(self.count as u64) };
        count
            + bytes_field_len(self.ts.len())
            + bytes_field_len(self.value.len())
            + bytes_field_len(self.type_index.len())
            + self.types.field_len()
            + bytes_field_len(self.user_index.len())
            + self.users.field_len()
    }

    /// Validates every line of `raw` (checked with [`BatchParser::check_shape`] at least; a
    /// wrong number of lines is the error of [`BatchParser::check`]) and writes
    /// the protobuf encoding of `StageRequest { batch: Batch { meta, counters, dead_letters,
    /// events } }` — the bytes prost would write for that message with the `Events` that
    /// [`BatchParser::parse`] returns — without building the message: the columns and the
    /// dictionary entries go straight from the input into the encoding. `dead_letters` are
    /// the batch's dead letters so far; this batch's own are merged in (by line) and their
    /// number added to `counters.invalid`. Returns (encoding, events, own dead letters).
    pub fn parse_encoded(
        &mut self,
        raw: &RawLines,
        meta: Option<&BatchMeta>,
        counters: Option<BatchCounters>,
        dead_letters: Vec<DeadLetter>,
    ) -> Result<(Vec<u8>, u64, u64), Malformed> {
        let own = self.parse_columns(raw)?;
        let own_invalid = own.len() as u64;
        let mut counters = counters.unwrap_or_default();
        counters.invalid += own_invalid;
        let dead = merge_dead_letters(dead_letters, own);
        let input: &[u8] = &raw.data;

        let events_len = self.events_len();
        let batch_len = meta.map_or(0, |m| message::encoded_len(1, m))
            + message::encoded_len(2, &counters)
            + message::encoded_len_repeated(3, &dead)
            + 1
            + encoded_len_varint(events_len as u64)
            + events_len;
        let total = 1 + encoded_len_varint(batch_len as u64) + batch_len;
        // (+ 16: short dictionary entries are written with a 16-byte store, then cut.)
        let mut out = Vec::with_capacity(total + 16);
        // StageRequest.batch (2)
        out.push(key(2, KEY_LEN));
        encode_varint(batch_len as u64, &mut out);
        if let Some(m) = meta {
            message::encode(1, m, &mut out);
        }
        message::encode(2, &counters, &mut out);
        for d in &dead {
            message::encode(3, d, &mut out);
        }
        // Batch.events (5)
        out.push(key(5, KEY_LEN));
        encode_varint(events_len as u64, &mut out);
        if self.count != 0 {
            out.push(key(1, 0));
            encode_varint(self.count as u64, &mut out);
        }
        encode_bytes_field(key(2, KEY_LEN), &self.ts, &mut out);
        encode_bytes_field(key(3, KEY_LEN), &self.value, &mut out);
        encode_bytes_field(key(4, KEY_LEN), &self.type_index, &mut out);
        self.types.encode_field(key(5, KEY_LEN), input, &mut out);
        encode_bytes_field(key(6, KEY_LEN), &self.user_index, &mut out);
        self.users.encode_field(key(7, KEY_LEN), input, &mut out);
        debug_assert_eq!(out.len(), total);
        Ok((out, self.count as u64, own_invalid))
    }
}

/// Merges the stage's own dead letters into those already on the batch, ascending by line.
pub fn merge_dead_letters(existing: Vec<DeadLetter>, own: Vec<DeadLetter>) -> Vec<DeadLetter> {
    if existing.is_empty() {
        let mut own = own;
        if !own.is_sorted_by_key(|d| d.line) {
            own.sort_by_key(|d| d.line);
        }
        return own;
    }
    if own.is_empty() {
        return existing;
    }
    let mut all = existing;
    all.extend(own);
    all.sort_by_key(|d| d.line); // stable; both halves are (nearly always) sorted already
    all
}
