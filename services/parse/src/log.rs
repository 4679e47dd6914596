//! JSON log lines on stdout (`{"ts","level","msg","service","correlationId",…}`), which the
//! supervisor collects. One line per run start and end, never per batch.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns logging on or off (tests keep their output clean).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Writes one log line; `correlation_id` is omitted when empty; `fields` are added as they are.
pub fn line(level: &str, service: &str, correlation_id: &str, msg: &str, fields: &[(&str, Value)]) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let s = |v: &str| Value::from(v).to_string();
    let mut text = format!("{{\"ts\":{ts},\"level\":{},\"msg\":{},\"service\":{}", s(level), s(msg), s(service));
    if !correlation_id.is_empty() {
        text.push_str(&format!(",\"correlationId\":{}", s(correlation_id)));
    }
    for (k, v) in fields {
        text.push_str(&format!(",{}:{v}", s(k)));
    }
    text.push_str("}\n");
    let out = std::io::stdout();
    let mut lock = out.lock();
    let _ = lock.write_all(text.as_bytes());
    let _ = lock.flush();
}

pub fn info(service: &str, correlation_id: &str, msg: &str) {
    line("info", service, correlation_id, msg, &[]);
}

pub fn error(service: &str, correlation_id: &str, msg: &str) {
    line("error", service, correlation_id, msg, &[]);
}
