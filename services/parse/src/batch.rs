//! The parse stage's work on one batch: checks the `RawLines` framing, validates every line and
//! builds the `Events` columns (type/user dictionary-encoded per batch) and the dead letters.

use bytes::Bytes;

use crate::pb::{DeadLetter, DeadLetterReason, Events, RawLines};
use crate::validate::{Invalid, Reason, Validator};

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
/// ones are compared through their entry. Entries that lie inside the batch's input are
/// zero-copy slices of it.
struct Dict {
    slots: Vec<Slot>,
    mask: usize,
    entries: Vec<Bytes>,
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

#[inline(always)]
fn fmix(mut h: u64) -> u64 {
    // murmur3's fmix64: table indexes use the low bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The packed form of a key: for up to 16 bytes, (two possibly overlapping little-endian loads,
/// which together with the length determine the key); longer keys get a hash and (hash, 0).
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

#[inline(always)]
fn slot_hash(k0: u64, k1: u64, len: usize) -> u64 {
    fmix(k0 ^ k1.rotate_left(29) ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

impl Dict {
    fn new() -> Self {
        Dict { slots: vec![Slot::default(); 64], mask: 63, entries: Vec::new() }
    }

    #[inline(always)]
    fn intern(&mut self, key: &[u8], input: &Bytes) -> u32 {
        let n = key.len();
        let (k0, k1) = pack(key);
        let mut i = slot_hash(k0, k1, n) as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.idx == 0 {
                break;
            }
            if s.k0 == k0 && s.k1 == k1 && s.len as usize == n && (n <= 16 || self.entries[s.idx as usize - 1] == key) {
                return s.idx - 1;
            }
            i = (i + 1) & self.mask;
        }
        let idx = self.entries.len() as u32;
        let range = input.as_ptr_range();
        let inside = key.as_ptr_range();
        let entry = if n > 0 && inside.start >= range.start && inside.end <= range.end {
            input.slice_ref(key)
        } else {
            Bytes::copy_from_slice(key)
        };
        self.entries.push(entry);
        self.slots[i] = Slot { k0, k1, len: n as u32, idx: idx + 1 };
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        idx
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
        self.mask = n - 1;
        for s in old.into_iter().filter(|s| s.idx != 0) {
            let mut i = slot_hash(s.k0, s.k1, s.len as usize) as usize & self.mask;
            while self.slots[i].idx != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = s;
        }
    }

    /// The entries, in index order; the table is emptied for the next batch (keeping its size
    /// unless it grew very large).
    fn take(&mut self) -> Vec<Bytes> {
        if self.slots.len() > 1 << 18 {
            self.slots = vec![Slot::default(); 64];
            self.mask = 63;
        } else {
            self.slots.fill(Slot::default());
        }
        let cap = self.entries.len();
        std::mem::replace(&mut self.entries, Vec::with_capacity(cap))
    }
}

/// Per-thread parser state, reused across batches.
pub struct BatchParser {
    validator: Validator,
    types: Dict,
    users: Dict,
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

impl BatchParser {
    pub fn new() -> Self {
        BatchParser { validator: Validator::new(), types: Dict::new(), users: Dict::new() }
    }

    /// Checks the framing of `raw`: `line_numbers` holds one LE u64 per line, and `data` is
    /// lines each followed by one `\n`.
    pub fn check(raw: &RawLines) -> Result<usize, Malformed> {
        let nl = raw.line_numbers.len();
        if !nl.is_multiple_of(8) {
            return Err(Malformed(format!("line_numbers has {nl} bytes, not a multiple of 8")));
        }
        let count = nl / 8;
        let data = &raw.data[..];
        if !data.is_empty() && data[data.len() - 1] != b'\n' {
            return Err(Malformed("data does not end with a newline".to_string()));
        }
        let lines = memchr::memchr_iter(b'\n', data).count();
        if lines != count {
            return Err(Malformed(format!("data holds {lines} lines but line_numbers has {count} entries")));
        }
        Ok(count)
    }

    /// Validates every line of `raw` (already checked with [`BatchParser::check`]).
    pub fn parse(&mut self, raw: &RawLines) -> Parsed {
        let data: &Bytes = &raw.data;
        let buf: &[u8] = data;
        let count = raw.line_numbers.len() / 8;
        let mut ts = Vec::with_capacity(count * 8);
        let mut value = Vec::with_capacity(count * 4);
        let mut type_index = Vec::with_capacity(count * 4);
        let mut user_index = Vec::with_capacity(count * 4);
        let mut dead = Vec::new();
        let mut n_valid: u32 = 0;
        let mut pos = 0usize;
        for (i, nl) in memchr::memchr_iter(b'\n', buf).enumerate() {
            let line_no = u64::from_le_bytes(raw.line_numbers[i * 8..i * 8 + 8].try_into().unwrap());
            match self.validator.validate(buf, pos, nl) {
                Ok(ev) => {
                    ts.extend_from_slice(&ev.epoch.to_le_bytes());
                    value.extend_from_slice(&ev.value.to_le_bytes());
                    let t = self.types.intern(self.validator.type_bytes(buf, &ev), data);
                    let u = self.users.intern(self.validator.user_bytes(buf, &ev), data);
                    type_index.extend_from_slice(&t.to_le_bytes());
                    user_index.extend_from_slice(&u.to_le_bytes());
                    n_valid += 1;
                }
                Err(inv) => dead.push(dead_letter(line_no, &inv)),
            }
            pos = nl + 1;
        }
        Parsed {
            events: Events {
                count: n_valid,
                ts_seconds: Bytes::from(ts),
                value: Bytes::from(value),
                type_index: Bytes::from(type_index),
                type_dict: self.types.take(),
                user_index: Bytes::from(user_index),
                user_dict: self.users.take(),
                tag_set_index: Bytes::new(),
                tag_sets: Vec::new(),
            },
            dead_letters: dead,
            lines: count as u64,
        }
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
