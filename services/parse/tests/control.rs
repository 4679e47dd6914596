//! The topology client against a fake control server speaking Connect JSON over HTTP/1.1:
//! registration, heartbeats (and re-registration when one is refused), activity reports,
//! lookup and unregistration.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use parse::control::{Control, Reporter};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    calls: Vec<(String, Value)>,
    registrations: usize,
    refuse_next_beat: bool,
    lookup: Value,
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Serves one request per connection; `chunked` answers with a chunked body.
async fn fake_control(state: Arc<Mutex<State>>, chunked: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = s.read(&mut tmp).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = find(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut tmp).await.unwrap();
                    buf.extend_from_slice(&tmp[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head.split_whitespace().nth(1).unwrap().to_string();
                assert!(head.to_lowercase().contains("content-type: application/json"), "{head}");
                let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                let method = path.rsplit('/').next().unwrap().to_string();
                let (status, reply) = {
                    let mut st = state.lock().unwrap();
                    st.calls.push((method.clone(), body));
                    match method.as_str() {
                        "RegisterService" => {
                            st.registrations += 1;
                            (200, json!({"instanceId": format!("id-{}", st.registrations), "heartbeatIntervalMs": 50}))
                        }
                        "SendHeartbeat" if st.refuse_next_beat => {
                            st.refuse_next_beat = false;
                            (404, json!({"code": "not_found", "message": "instance is dead"}))
                        }
                        "SendHeartbeat" => (200, json!({"sequence": "1", "acknowledged": true})),
                        "LookupService" => (200, st.lookup.clone()),
                        _ => (200, json!({})),
                    }
                };
                let text = reply.to_string();
                let resp = if chunked {
                    let (a, b) = text.split_at(text.len() / 2);
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    )
                };
                s.write_all(resp.as_bytes()).await.unwrap();
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn calls(state: &Arc<Mutex<State>>, method: &str) -> Vec<Value> {
    state.lock().unwrap().calls.iter().filter(|c| c.0 == method).map(|c| c.1.clone()).collect()
}

#[tokio::test]
async fn registers_beats_reregisters_reports_activity_and_unregisters() {
    parse::log::set_enabled(false);
    let state = Arc::new(Mutex::new(State::default()));
    let url = fake_control(state.clone(), false).await;
    let reporter = Reporter::new(Control::new(&url).unwrap(), "parse", "rules", "127.0.0.1:4567");
    tokio::spawn(reporter.clone().run());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let reg = calls(&state, "RegisterService");
    assert_eq!(reg.len(), 1);
    let r = &reg[0];
    assert_eq!(r["name"], "parse");
    assert_eq!(r["type"], "SERVICE_TYPE_HYBRID");
    assert_eq!(r["language"], "SERVICE_LANGUAGE_RUST");
    assert_eq!(r["version"], "0.1.0");
    assert_eq!(r["address"], "127.0.0.1:4567");
    assert_eq!(r["host"], "127.0.0.1");
    assert_eq!(r["pid"], std::process::id());
    assert_eq!(r["dependencies"], json!(["rules"]));

    let beats = calls(&state, "SendHeartbeat");
    assert!(beats.len() >= 2, "beats every heartbeatIntervalMs (50 ms): {}", beats.len());
    assert_eq!(beats[0]["instanceId"], "id-1");
    assert_eq!(beats[0]["sequence"], "1");
    assert_eq!(beats[1]["sequence"], "2");
    assert_eq!(beats[0]["health"]["state"], "HEALTH_STATE_HEALTHY");
    assert!(beats[0]["metrics"]["rssBytes"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert!(beats[0]["metrics"]["cpuPercent"].is_number());

    // A refused beat (the instance was declared dead) leads to a new registration.
    state.lock().unwrap().refuse_next_beat = true;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state.lock().unwrap().registrations, 2);
    assert_eq!(calls(&state, "SendHeartbeat").last().unwrap()["instanceId"], "id-2");

    // Activity: one aggregated report per second while there is traffic.
    reporter.record(Duration::from_micros(1500), 10_000, true);
    reporter.record(Duration::from_micros(500), 2_000, true);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let act = calls(&state, "ReportActivity");
    assert_eq!(act.len(), 1, "no report without traffic, one with");
    let e = &act[0]["events"][0];
    assert_eq!(act[0]["instanceId"], "id-2");
    assert_eq!(e["targetService"], "rules");
    assert_eq!(e["method"], "pipeline.v1.RulesService/Process");
    assert_eq!(e["type"], "ACTIVITY_TYPE_REQUEST");
    assert_eq!(e["count"], 2);
    assert_eq!(e["errorCount"], 0);
    assert_eq!(e["latencySumUs"], "2000");
    assert_eq!(e["latencyMaxUs"], "1500");
    assert_eq!(e["itemCount"], "12000");
    assert!(e["timestampMs"].as_str().unwrap().parse::<u64>().unwrap() > 0);

    reporter.stop().await;
    let un = calls(&state, "UnregisterService");
    assert_eq!(un, vec![json!({"instanceId": "id-2"})]);
}

#[tokio::test]
async fn lookup_takes_the_first_instance_with_an_address() {
    let state = Arc::new(Mutex::new(State::default()));
    state.lock().unwrap().lookup =
        json!({"instances": [{"address": ""}, {"address": "127.0.0.1:9"}, {"address": "127.0.0.1:10"}]});
    for chunked in [false, true] {
        let url = fake_control(state.clone(), chunked).await;
        let c = Control::new(&url).unwrap();
        assert_eq!(c.lookup("rules").await.unwrap(), Some("127.0.0.1:9".to_string()));
    }
    assert_eq!(calls(&state, "LookupService")[0], json!({"name": "rules"}));
    state.lock().unwrap().lookup = json!({});
    let url = fake_control(state.clone(), false).await;
    assert_eq!(Control::new(&url).unwrap().lookup("rules").await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_control_server_is_an_error_not_a_hang() {
    // A port nobody listens on.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let c = Control::new(&format!("http://{addr}")).unwrap();
    assert!(c.lookup("rules").await.is_err());
    assert!(Control::new("https://example.invalid").is_err());
}
