//! The control server's topology API (runtime.v1.TopologyService) as Connect unary JSON over
//! plain HTTP/1.1: registration, heartbeats, activity reports, lookup and unregistration
//! (services/PIPELINE.md "Process"). A tiny hand-written HTTP/1.1 client keeps dependencies lean.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::log;
use crate::metrics;

/// An HTTP reply: status code and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Connect unary JSON client for the topology service.
#[derive(Clone)]
pub struct Control {
    host_port: String,
    host_header: String,
    path_prefix: String,
    token: Option<String>,
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find(b, b"\r\n").ok_or("bad chunked body")?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size..];
        if b.starts_with(b"\r\n") {
            b = &b[2..];
        }
    }
}

impl Control {
    /// `url` like `http://127.0.0.1:3000` (plain HTTP only).
    pub fn new(url: &str) -> Result<Control, String> {
        let rest =
            url.strip_prefix("http://").ok_or_else(|| format!("control URL must start with http://, got {url:?}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("control URL has no host: {url:?}"));
        }
        let has_port = match authority.rfind(']') {
            Some(i) => authority[i..].contains(':'),
            None => authority.contains(':'),
        };
        let host_port = if has_port { authority.to_string() } else { format!("{authority}:80") };
        let token = std::env::var("MR_CONTROL_TOKEN").ok().filter(|t| !t.is_empty());
        Ok(Control { host_port, host_header: authority.to_string(), path_prefix: path.to_string(), token })
    }

    /// POSTs `body` to `/runtime.v1.TopologyService/<method>`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Reply, String> {
        let fut = self.call_inner(method, body);
        match tokio::time::timeout(Duration::from_secs(5), fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("{method}: timed out")),
        }
    }

    async fn call_inner(&self, method: &str, body: &Value) -> Result<Reply, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let mut req = format!(
            "POST {}/runtime.v1.TopologyService/{method} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nConnect-Protocol-Version: 1\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.path_prefix,
            self.host_header,
            body.len()
        );
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        req.push_str("\r\n");
        let mut s =
            TcpStream::connect(&self.host_port).await.map_err(|e| format!("connect {}: {e}", self.host_port))?;
        s.set_nodelay(true).ok();
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        s.write_all(&body).await.map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.map_err(|e| e.to_string())?;
        let head_end = find(&resp, b"\r\n\r\n").ok_or("malformed HTTP response")?;
        let head = String::from_utf8_lossy(&resp[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("malformed status line {status_line:?}"))?;
        let mut chunked = false;
        let mut length: Option<usize> = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim();
                if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                } else if k == "content-length" {
                    length = v.parse().ok();
                }
            }
        }
        let raw = &resp[head_end + 4..];
        let body = if chunked {
            dechunk(raw)?
        } else if let Some(n) = length {
            raw[..n.min(raw.len())].to_vec()
        } else {
            raw.to_vec()
        };
        Ok(Reply { status, body })
    }

    /// Address of the newest live instance of `name`, if any.
    pub async fn lookup(&self, name: &str) -> Result<Option<String>, String> {
        let r = self.call("LookupService", &json!({ "name": name })).await?;
        if r.status != 200 {
            return Err(format!("LookupService answered HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("LookupService reply: {e}"))?;
        Ok(v.get("instances").and_then(|i| i.as_array()).and_then(|list| {
            list.iter()
                .filter_map(|i| i.get("address").and_then(|a| a.as_str()))
                .find(|a| !a.is_empty())
                .map(|a| a.to_string())
        }))
    }
}

/// Traffic to the downstream, reported once a second while there is any.
#[derive(Default)]
pub struct Activity {
    count: u64,
    latency_sum_us: u64,
    latency_max_us: u64,
    items: u64,
    errors: u64,
}

/// Registers, beats, reports activity and unregisters for one process.
pub struct Reporter {
    control: Control,
    name: String,
    downstream: String,
    address: String,
    instance: Mutex<Option<String>>,
    activity: Mutex<Activity>,
}

impl Reporter {
    pub fn new(control: Control, name: &str, downstream: &str, address: &str) -> Arc<Reporter> {
        Arc::new(Reporter {
            control,
            name: name.to_string(),
            downstream: downstream.to_string(),
            address: address.to_string(),
            instance: Mutex::new(None),
            activity: Mutex::new(Activity::default()),
        })
    }

    /// Records one batch sent downstream and acknowledged after `latency` (or failed).
    pub fn record(&self, latency: Duration, items: u64, ok: bool) {
        let us = latency.as_micros() as u64;
        let mut a = self.activity.lock().unwrap();
        a.count += 1;
        a.latency_sum_us += us;
        a.latency_max_us = a.latency_max_us.max(us);
        a.items += items;
        if !ok {
            a.errors += 1;
        }
    }

    fn register_body(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "type": "SERVICE_TYPE_HYBRID",
            "language": "SERVICE_LANGUAGE_RUST",
            "version": "0.1.0",
            "address": self.address,
            "host": "127.0.0.1",
            "pid": std::process::id(),
            "dependencies": [self.downstream],
            "metadata": {"pipeline": "split", "stage": "parse"},
        });
        if let Ok(p) = std::env::var("MR_PROCESS_NAME") {
            body["processName"] = Value::String(p);
        }
        body
    }

    /// Registers (retrying every second while the control server is unreachable, logging
    /// once); returns the heartbeat interval.
    async fn register(&self) -> Duration {
        let mut logged = false;
        loop {
            let r = self.control.call("RegisterService", &self.register_body()).await;
            let outcome = match r {
                Ok(r) if r.status == 200 => match serde_json::from_slice::<Value>(&r.body) {
                    Ok(v) => match v.get("instanceId").and_then(|i| i.as_str()) {
                        Some(id) => {
                            let ms = v.get("heartbeatIntervalMs").and_then(|m| m.as_u64()).unwrap_or(1000).max(50);
                            *self.instance.lock().unwrap() = Some(id.to_string());
                            log::info(&self.name, "", &format!("registered as {id} (heartbeat every {ms} ms)"));
                            return Duration::from_millis(ms);
                        }
                        None => "reply without instanceId".to_string(),
                    },
                    Err(e) => format!("bad reply: {e}"),
                },
                Ok(r) => format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
                Err(e) => e,
            };
            if !logged {
                log::info(
                    &self.name,
                    "",
                    &format!("control server registration failed ({outcome}); retrying every second"),
                );
                logged = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Runs forever: registration, heartbeats (re-registering when a beat is refused) and
    /// activity reports.
    pub async fn run(self: Arc<Self>) {
        let act = self.clone();
        tokio::spawn(async move { act.activity_loop().await });
        let mut sequence: u64 = 0;
        let mut cpu = metrics::CpuSampler::new();
        'register: loop {
            let interval = self.register().await;
            let mut unreachable = false;
            loop {
                // While the control server is unreachable, retry every second.
                tokio::time::sleep(if unreachable { Duration::from_secs(1) } else { interval }).await;
                let Some(id) = self.instance.lock().unwrap().clone() else { continue 'register };
                sequence += 1;
                let body = json!({
                    "instanceId": id,
                    "sequence": sequence.to_string(),
                    "health": {"state": "HEALTH_STATE_HEALTHY"},
                    "metrics": {"rssBytes": metrics::rss_bytes().to_string(), "cpuPercent": cpu.percent()},
                });
                match self.control.call("SendHeartbeat", &body).await {
                    Ok(r) if r.status == 200 => {
                        if unreachable {
                            log::info(&self.name, "", "control server reachable again");
                        }
                        unreachable = false;
                    }
                    Ok(r) => {
                        log::info(&self.name, "", &format!("heartbeat refused (HTTP {}); registering again", r.status));
                        *self.instance.lock().unwrap() = None;
                        continue 'register;
                    }
                    Err(e) => {
                        if !unreachable {
                            log::info(
                                &self.name,
                                "",
                                &format!("control server unreachable ({e}); retrying every second"),
                            );
                        }
                        unreachable = true;
                    }
                }
            }
        }
    }

    async fn activity_loop(&self) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.flush_activity().await;
        }
    }

    async fn flush_activity(&self) {
        let Some(id) = self.instance.lock().unwrap().clone() else { return };
        let a = std::mem::take(&mut *self.activity.lock().unwrap());
        if a.count == 0 {
            return;
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let body = json!({
            "instanceId": id,
            "events": [{
                "targetService": self.downstream,
                "method": "pipeline.v1.RulesService/Process",
                "type": "ACTIVITY_TYPE_REQUEST",
                "count": a.count,
                "errorCount": a.errors,
                "latencySumUs": a.latency_sum_us.to_string(),
                "latencyMaxUs": a.latency_max_us.to_string(),
                "itemCount": a.items.to_string(),
                "timestampMs": now_ms.to_string(),
            }],
        });
        // Activity is advisory: a report lost while the control server restarts is acceptable.
        let _ = self.control.call("ReportActivity", &body).await;
    }

    /// Sends the last activity and unregisters (best effort).
    pub async fn stop(&self) {
        self.flush_activity().await;
        let id = self.instance.lock().unwrap().take();
        if let Some(id) = id {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                self.control.call("UnregisterService", &json!({ "instanceId": id })),
            )
            .await;
        }
    }
}
