//! The gRPC stage in-process: ParseService served on a loopback port with a fake downstream
//! RulesService (a tiny tonic server that records what arrives, acknowledges batches and
//! answers End with a RunComplete), driven by a tonic client playing ingest. The fake answers
//! each Barrier with checkpoint_done at once, like a sink right behind parse. Checkpointed runs:
//! barrier order and credit, checkpoint_done upstream, a newer attempt ending the older stream, a
//! killed downstream, and the MR_CRASH_AT crash point of the real binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use parse::pb::batch::Payload;
use parse::pb::parse_service_client::ParseServiceClient;
use parse::pb::rules_service_server::{RulesService, RulesServiceServer};
use parse::pb::stage_request::Kind;
use parse::pb::stage_response;
use parse::pb::{
    Barrier, Batch, BatchCounters, BatchMeta, DeadLetter, DeadLetterReason, End, Events, RawLines, RunComplete,
    RunHeader, StageMetrics, StageRequest, StageResponse,
};
use parse::stage::{Config, ParseStage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status, Streaming};

const T0: &str = "2026-01-01T00:00:10Z";
const T0_EPOCH: i64 = 1767225610;

/// How the fake downstream behaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Acks every batch at once.
    Ack,
    /// Holds acks until `n` batches are unacknowledged (checks the credit window), or until a
    /// barrier arrives.
    HoldUntil(usize),
    /// Fails the stream on the header.
    FailOnHeader,
}

#[derive(Default)]
struct Seen {
    messages: Vec<StageRequest>,
    /// The attempt of the stream each message of `messages` arrived on (from its header).
    attempts: Vec<u32>,
    max_outstanding: usize,
    /// How the inbound stream ended, when it ended before End.
    ended: Option<String>,
    /// Every stream that ended before End: its attempt and how.
    ends: Vec<(u32, String)>,
}

#[derive(Clone)]
struct FakeRules {
    seen: Arc<Mutex<Seen>>,
    mode: Mode,
}

#[tonic::async_trait]
impl RulesService for FakeRules {
    type ProcessStream = ReceiverStream<Result<StageResponse, Status>>;

    async fn process(&self, req: Request<Streaming<StageRequest>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let seen = self.seen.clone();
        let mode = self.mode;
        tokio::spawn(async move {
            let mut pending: Vec<u64> = Vec::new();
            let mut attempt = 0;
            let ack = |id: u64| Ok(StageResponse { kind: Some(stage_response::Kind::Ack(id)) });
            loop {
                let m = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        let mut s = seen.lock().unwrap();
                        s.ended = Some("closed".into());
                        s.ends.push((attempt, "closed".into()));
                        return;
                    }
                    Err(e) => {
                        let mut s = seen.lock().unwrap();
                        s.ended = Some(format!("error: {e}"));
                        s.ends.push((attempt, format!("error: {e}")));
                        return;
                    }
                };
                if let Some(Kind::Header(h)) = &m.kind {
                    attempt = h.attempt;
                }
                {
                    let mut s = seen.lock().unwrap();
                    s.messages.push(m.clone());
                    s.attempts.push(attempt);
                }
                match m.kind {
                    Some(Kind::Header(_)) if mode == Mode::FailOnHeader => {
                        let _ =
                            tx.send(Err(Status::invalid_argument("rules: bad rules_json: drop[0].op \"eqq\""))).await;
                        return;
                    }
                    Some(Kind::Batch(b)) => {
                        pending.push(b.meta.unwrap().trace_id);
                        {
                            let mut s = seen.lock().unwrap();
                            s.max_outstanding = s.max_outstanding.max(pending.len());
                        }
                        let release = match mode {
                            Mode::HoldUntil(n) => pending.len() >= n,
                            _ => true,
                        };
                        if release {
                            for id in pending.drain(..) {
                                let _ = tx.send(ack(id)).await;
                            }
                        }
                    }
                    Some(Kind::Barrier(b)) => {
                        let done = StageResponse { kind: Some(stage_response::Kind::CheckpointDone(b.checkpoint_id)) };
                        let _ = tx.send(Ok(done)).await;
                        for id in pending.drain(..) {
                            let _ = tx.send(ack(id)).await;
                        }
                    }
                    Some(Kind::End(end)) => {
                        for id in pending.drain(..) {
                            let _ = tx.send(ack(id)).await;
                        }
                        let complete = RunComplete {
                            run_id: "run-1".into(),
                            checksum: "abc".into(),
                            batches: end.batches,
                            stages: end.stages.clone(),
                            ..Default::default()
                        };
                        let _ =
                            tx.send(Ok(StageResponse { kind: Some(stage_response::Kind::Complete(complete)) })).await;
                        return;
                    }
                    _ => {}
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Harness {
    parse_addr: String,
    seen: Arc<Mutex<Seen>>,
}

/// Serves a FakeRules on an ephemeral port of the current runtime: its address and record.
async fn start_rules(mode: Mode) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let rules_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rules_addr = rules_listener.local_addr().unwrap();
    let fake = FakeRules { seen: seen.clone(), mode };
    tokio::spawn(async move {
        Server::builder()
            .add_service(RulesServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(rules_listener))
            .await
            .unwrap();
    });
    (rules_addr.to_string(), seen)
}

async fn start(mode: Mode) -> Harness {
    parse::log::set_enabled(false);
    let (rules_addr, seen) = start_rules(mode).await;
    let (listener, addr) = parse::stage::bind("127.0.0.1", 0).await.unwrap();
    let mut cfg = Config::new("parse", "rules");
    cfg.downstream_address = Some(rules_addr);
    tokio::spawn(parse::stage::serve(listener, ParseStage::new(cfg), std::future::pending::<()>()));
    Harness { parse_addr: addr.to_string(), seen }
}

fn header(passthrough: bool) -> StageRequest {
    StageRequest {
        kind: Some(Kind::Header(RunHeader {
            run_id: "run-1".into(),
            rules_json: "{}".into(),
            out_dir: "/tmp/x".into(),
            batch_size: 10,
            passthrough,
            ..Default::default()
        })),
    }
}

/// A RawLines batch of `lines` (numbered from `first_line`, skipping one number after each
/// line as if blank lines sat in between), with `pre` dead letters already on it.
fn raw_batch(trace: u64, first_line: u64, lines: &[&[u8]], pre: Vec<DeadLetter>) -> Batch {
    let mut data = Vec::new();
    let mut nums = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        data.extend_from_slice(l);
        data.push(b'\n');
        nums.extend_from_slice(&(first_line + 2 * i as u64).to_le_bytes());
    }
    Batch {
        meta: Some(BatchMeta {
            trace_id: trace,
            ingest_unix_ns: 42,
            first_line,
            last_line: first_line + 2 * lines.len() as u64,
            ..Default::default()
        }),
        counters: Some(BatchCounters {
            lines: (lines.len() + pre.len()) as u64,
            invalid: pre.len() as u64,
            dropped: 0,
        }),
        dead_letters: pre,
        payload: Some(Payload::Raw(RawLines {
            data: Bytes::from(data),
            line_numbers: Bytes::from(nums),
            shared: None,
        })),
    }
}

fn batch_msg(b: Batch) -> StageRequest {
    StageRequest { kind: Some(Kind::Batch(b)) }
}

fn end_msg(batches: u64) -> StageRequest {
    let ingest = StageMetrics { stage: "ingest".into(), language: "typescript".into(), ..Default::default() };
    StageRequest { kind: Some(Kind::End(End { batches, physical_lines: 99, input_bytes: 1234, stages: vec![ingest] })) }
}

/// Sends `msgs` on a ParseService.Process stream; returns the responses and the final status.
async fn drive(addr: &str, msgs: Vec<StageRequest>) -> (Vec<StageResponse>, Result<(), Status>) {
    let mut client = ParseServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let (tx, rx) = mpsc::channel(msgs.len() + 1);
    for m in msgs {
        tx.send(m).await.unwrap();
    }
    drop(tx);
    let mut out = Vec::new();
    let call = async {
        let mut stream = client.process(ReceiverStream::new(rx)).await?.into_inner();
        while let Some(m) = stream.message().await? {
            out.push(m);
        }
        Ok::<(), Status>(())
    };
    let r = tokio::time::timeout(Duration::from_secs(20), call).await.expect("stream did not finish in 20 s");
    (out, r)
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}
fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
}
fn i64s(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn ev(ts: &str, t: &str, u: &str, v: &str) -> Vec<u8> {
    format!(r#"{{"ts":"{ts}","type":"{t}","user":"{u}","value":{v}}}"#).into_bytes()
}

/// Decodes an Events payload into (ts, type, user, value) rows.
fn rows(e: &Events) -> Vec<(i64, String, String, i32)> {
    let ts = i64s(&e.ts_seconds);
    let v = i32s(&e.value);
    let ti = u32s(&e.type_index);
    let ui = u32s(&e.user_index);
    assert_eq!(ts.len(), e.count as usize);
    assert_eq!(v.len(), e.count as usize);
    assert_eq!(ti.len(), e.count as usize);
    assert_eq!(ui.len(), e.count as usize);
    (0..e.count as usize)
        .map(|i| {
            (
                ts[i],
                String::from_utf8(e.type_dict[ti[i] as usize].to_vec()).unwrap(),
                String::from_utf8(e.user_dict[ui[i] as usize].to_vec()).unwrap(),
                v[i],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_flows_through_with_events_dead_letters_acks_metrics_and_completion() {
    let h = start(Mode::Ack).await;
    let oversize =
        DeadLetter { line: 4, reason: DeadLetterReason::InvalidJson as i32, detail: "line longer than 1 MiB".into() };
    let b1 = raw_batch(
        1,
        1,
        &[
            &ev(T0, "click", "u1", "5"),
            b"not json",
            &ev("2026-01-01T00:30:00+01:00", "view", "u\\u00e9", "-7"),
            br#"{"ts":"2026-01-01T00:00:10Z","type":"click","user":"u1","value":1.5}"#,
            &ev(T0, "click", "u2", "2147483647"),
        ],
        vec![oversize.clone()],
    );
    let b2 = raw_batch(2, 11, &[&ev(T0, "a\\\"b", "u1", "0"), b"[1]"], vec![]);
    let b3 = raw_batch(3, 20, &[], vec![]); // a batch whose lines were all oversized or blank
    let (resp, status) =
        drive(&h.parse_addr, vec![header(false), batch_msg(b1), batch_msg(b2), batch_msg(b3), end_msg(3)]).await;
    status.expect("the stream ends OK");

    // Acks in order, then the RunComplete that the downstream sent.
    let acks: Vec<u64> = resp
        .iter()
        .filter_map(|r| match r.kind {
            Some(stage_response::Kind::Ack(a)) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(acks, vec![1, 2, 3]);
    let Some(stage_response::Kind::Complete(c)) = &resp.last().unwrap().kind else {
        panic!("last reply is not RunComplete")
    };
    assert_eq!(c.run_id, "run-1");
    assert_eq!(c.checksum, "abc");
    assert_eq!(resp.len(), 4);

    let seen = h.seen.lock().unwrap();
    let msgs = &seen.messages;
    assert_eq!(msgs.len(), 5, "header, 3 batches, end");
    // The header is forwarded unchanged.
    assert_eq!(msgs[0], header(false));

    // Batch 1: events, merged dead letters, counters.
    let Some(Kind::Batch(o1)) = &msgs[1].kind else { panic!() };
    assert_eq!(o1.meta.as_ref().unwrap().trace_id, 1);
    assert_eq!(o1.meta.as_ref().unwrap().ingest_unix_ns, 42);
    let Some(Payload::Events(e1)) = &o1.payload else { panic!("payload is not events") };
    assert_eq!(
        rows(e1),
        vec![
            (T0_EPOCH, "click".into(), "u1".into(), 5),
            (1767223800, "view".into(), "ué".into(), -7),
            (T0_EPOCH, "click".into(), "u2".into(), i32::MAX),
        ]
    );
    assert_eq!(e1.type_dict.len(), 2, "types are dictionary-encoded");
    assert_eq!(e1.user_dict.len(), 3);
    assert!(e1.tag_set_index.is_empty() && e1.tag_sets.is_empty());
    let dl: Vec<(u64, i32)> = o1.dead_letters.iter().map(|d| (d.line, d.reason)).collect();
    assert_eq!(
        dl,
        vec![
            (3, DeadLetterReason::InvalidJson as i32),
            (4, DeadLetterReason::InvalidJson as i32),
            (7, DeadLetterReason::InvalidEvent as i32),
        ]
    );
    assert_eq!(o1.dead_letters[1], oversize);
    assert!(o1.dead_letters.iter().all(|d| !d.detail.is_empty()));
    assert_eq!(o1.counters.as_ref().unwrap(), &BatchCounters { lines: 6, invalid: 3, dropped: 0 });

    let Some(Kind::Batch(o2)) = &msgs[2].kind else { panic!() };
    let Some(Payload::Events(e2)) = &o2.payload else { panic!() };
    assert_eq!(rows(e2), vec![(T0_EPOCH, "a\"b".into(), "u1".into(), 0)]);
    assert_eq!(
        o2.dead_letters.iter().map(|d| (d.line, d.reason)).collect::<Vec<_>>(),
        vec![(13, DeadLetterReason::InvalidEvent as i32)]
    );
    assert_eq!(o2.counters.as_ref().unwrap().invalid, 1);

    let Some(Kind::Batch(o3)) = &msgs[3].kind else { panic!() };
    let Some(Payload::Events(e3)) = &o3.payload else { panic!() };
    assert_eq!(e3.count, 0);

    // End: ingest's metrics first, then parse's.
    let Some(Kind::End(end)) = &msgs[4].kind else { panic!() };
    assert_eq!((end.batches, end.physical_lines, end.input_bytes), (3, 99, 1234));
    assert_eq!(end.stages.len(), 2);
    assert_eq!(end.stages[0].stage, "ingest");
    let m = &end.stages[1];
    assert_eq!((m.stage.as_str(), m.language.as_str()), ("parse", "rust"));
    assert_eq!((m.batches_in, m.batches_out), (3, 3));
    assert_eq!((m.events_in, m.events_out), (7, 4));
    assert!(m.busy_ns > 0 && m.wait_ns > 0);
    assert!(m.cpu_seconds >= 0.0 && m.peak_rss_bytes > 0);
    assert_eq!(m.pid, std::process::id() as i32);
    // The RunComplete carries the stages the downstream saw.
    assert_eq!(c.stages.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_8_batches_are_unacknowledged_downstream() {
    let h = start(Mode::HoldUntil(8)).await;
    let mut msgs = vec![header(false)];
    let line = ev(T0, "click", "u1", "1");
    for t in 1..=20u64 {
        msgs.push(batch_msg(raw_batch(t, 100 * t, &[&line, &line], vec![])));
    }
    msgs.push(end_msg(20));
    let (resp, status) = drive(&h.parse_addr, msgs).await;
    status.unwrap();
    let acks: Vec<u64> = resp
        .iter()
        .filter_map(|r| match r.kind {
            Some(stage_response::Kind::Ack(a)) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(acks, (1..=20).collect::<Vec<_>>());
    assert!(matches!(resp.last().unwrap().kind, Some(stage_response::Kind::Complete(_))));
    assert_eq!(h.seen.lock().unwrap().max_outstanding, 8, "the window is 8 and it was used up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_forwards_batches_unchanged() {
    let h = start(Mode::Ack).await;
    let b = raw_batch(1, 1, &[b"garbage", &ev(T0, "click", "u1", "1")], vec![]);
    let (resp, status) = drive(&h.parse_addr, vec![header(true), batch_msg(b.clone()), end_msg(1)]).await;
    status.unwrap();
    assert_eq!(resp.len(), 2);
    let seen = h.seen.lock().unwrap();
    assert_eq!(seen.messages[1], batch_msg(b));
    let Some(Kind::End(end)) = &seen.messages[2].kind else { panic!() };
    assert_eq!((end.stages[1].events_in, end.stages[1].events_out), (2, 2));
}

async fn expect_failure(msgs: Vec<StageRequest>, code: Code, prefix: &str) {
    let h = start(Mode::Ack).await;
    let (_, status) = drive(&h.parse_addr, msgs).await;
    let e = status.expect_err("the stream must fail");
    assert_eq!(e.code(), code, "{}", e.message());
    assert!(e.message().starts_with(prefix), "message {:?} does not start with {prefix:?}", e.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_batches_fail_the_stream() {
    let line = ev(T0, "click", "u1", "1");
    // line_numbers not a multiple of 8.
    let mut b = raw_batch(1, 1, &[&line], vec![]);
    if let Some(Payload::Raw(r)) = &mut b.payload {
        r.line_numbers = r.line_numbers.slice(..7);
    }
    expect_failure(
        vec![header(false), batch_msg(b), end_msg(1)],
        Code::InvalidArgument,
        "parse: batch 1: line_numbers has 7 bytes",
    )
    .await;
    // More line numbers than lines.
    let mut b = raw_batch(2, 1, &[&line, &line], vec![]);
    if let Some(Payload::Raw(r)) = &mut b.payload {
        r.data = Bytes::from([&line[..], b"\n"].concat());
    }
    expect_failure(
        vec![header(false), batch_msg(b)],
        Code::InvalidArgument,
        "parse: batch 2: data holds 1 lines but line_numbers has 2",
    )
    .await;
    // Data not ending with a newline.
    let mut b = raw_batch(3, 1, &[&line], vec![]);
    if let Some(Payload::Raw(r)) = &mut b.payload {
        r.data = r.data.slice(..r.data.len() - 1);
    }
    expect_failure(vec![header(false), batch_msg(b)], Code::InvalidArgument, "parse: batch 3:").await;
    // Events instead of raw lines.
    let mut b = raw_batch(4, 1, &[&line], vec![]);
    b.payload = Some(Payload::Events(Events::default()));
    expect_failure(vec![header(false), batch_msg(b)], Code::InvalidArgument, "parse: batch 4: payload is events").await;
    // No payload.
    let mut b = raw_batch(5, 1, &[&line], vec![]);
    b.payload = None;
    expect_failure(vec![header(false), batch_msg(b)], Code::InvalidArgument, "parse: batch 5:").await;
    // No header first.
    let b = raw_batch(6, 1, &[&line], vec![]);
    expect_failure(vec![batch_msg(b)], Code::FailedPrecondition, "parse: the first message must be a RunHeader").await;
    // A second header.
    expect_failure(vec![header(false), header(false)], Code::InvalidArgument, "parse: ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_downstream_fails_the_inbound_stream_with_its_code() {
    let h = start(Mode::FailOnHeader).await;
    let (_, status) = drive(&h.parse_addr, vec![header(false), end_msg(0)]).await;
    let e = status.expect_err("must fail");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "parse: rules failed: rules: bad rules_json: drop[0].op \"eqq\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_downstream_is_unavailable() {
    // No control server and no fixed address: the lookup cannot succeed.
    parse::log::set_enabled(false);
    let (listener, addr) = parse::stage::bind("127.0.0.1", 0).await.unwrap();
    let mut cfg = Config::new("parse", "rules");
    cfg.lookup_timeout = Duration::from_millis(300);
    tokio::spawn(parse::stage::serve(listener, ParseStage::new(cfg), std::future::pending::<()>()));
    let (_, status) = drive(&addr.to_string(), vec![header(false)]).await;
    let e = status.expect_err("must fail");
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.message().starts_with("parse: downstream rules is not registered with the topology"), "{}", e.message());
}

/// A control server that answers LookupService: no instance for the first `misses` calls,
/// then `address`. Returns its URL and the number of lookups seen.
async fn lookup_server(address: String, misses: usize) -> (String, Arc<Mutex<usize>>) {
    lookup_server_of(Arc::new(Mutex::new(address)), misses).await
}

/// lookup_server answering whatever `address` holds at the time of each lookup.
async fn lookup_server_of(address: Arc<Mutex<String>>, misses: usize) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0usize));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            // Requests are small: read until the JSON body's closing brace.
            while !got.ends_with(b"}") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&got).to_string();
            assert!(text.starts_with("POST /runtime.v1.TopologyService/LookupService HTTP/1.1\r\n"), "{text}");
            assert!(text.ends_with(r#"{"name":"rules"}"#), "{text}");
            let n = {
                let mut c = c.lock().unwrap();
                *c += 1;
                *c
            };
            let address = address.lock().unwrap().clone();
            let body =
                if n <= misses { "{}".to_string() } else { format!(r#"{{"instances":[{{"address":"{address}"}}]}}"#) };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
            let _ = s.shutdown().await;
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downstream_is_found_through_the_topology_retrying_until_it_is_registered() {
    parse::log::set_enabled(false);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let rules_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rules_addr = rules_listener.local_addr().unwrap();
    let fake = FakeRules { seen: seen.clone(), mode: Mode::Ack };
    tokio::spawn(
        Server::builder()
            .add_service(RulesServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(rules_listener)),
    );
    let (url, lookups) = lookup_server(rules_addr.to_string(), 2).await;
    let (listener, addr) = parse::stage::bind("127.0.0.1", 0).await.unwrap();
    let mut cfg = Config::new("parse", "rules");
    cfg.control = Some(parse::control::Control::new(&url).unwrap());
    tokio::spawn(parse::stage::serve(listener, ParseStage::new(cfg), std::future::pending::<()>()));
    let line = ev(T0, "click", "u1", "1");
    let (resp, status) =
        drive(&addr.to_string(), vec![header(false), batch_msg(raw_batch(1, 1, &[&line], vec![])), end_msg(1)]).await;
    status.unwrap();
    assert_eq!(resp.len(), 2);
    assert_eq!(*lookups.lock().unwrap(), 3, "two misses 100 ms apart, then found");
    assert_eq!(seen.lock().unwrap().messages.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_goes_away_cancels_the_downstream_stream() {
    let h = start(Mode::HoldUntil(1000)).await;
    let mut client = ParseServiceClient::connect(format!("http://{}", h.parse_addr)).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    let line = ev(T0, "click", "u1", "1");
    tx.send(header(false)).await.unwrap();
    tx.send(batch_msg(raw_batch(1, 1, &[&line], vec![]))).await.unwrap();
    let call = tokio::spawn(async move {
        let mut s = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
        while let Ok(Some(_)) = s.message().await {}
    });
    // Wait until the batch reached the downstream, then drop the upstream call.
    for _ in 0..100 {
        if h.seen.lock().unwrap().messages.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.seen.lock().unwrap().messages.len(), 2);
    call.abort();
    drop(tx);
    for _ in 0..100 {
        if h.seen.lock().unwrap().ended.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ended = h.seen.lock().unwrap().ended.clone();
    assert!(ended.is_some(), "the downstream stream must end when the upstream goes away");
}

// ---- Checkpointed runs ----

/// A header of attempt `attempt` of run `run_id` of a checkpointed run.
fn ckpt_header(run_id: &str, attempt: u32, resume: u64, passthrough: bool) -> StageRequest {
    StageRequest {
        kind: Some(Kind::Header(RunHeader {
            run_id: run_id.into(),
            rules_json: "{}".into(),
            out_dir: "/tmp/x".into(),
            batch_size: 10,
            passthrough,
            checkpoint_dir: "/tmp/x/checkpoints".into(),
            resume_checkpoint: resume,
            attempt,
            ..Default::default()
        })),
    }
}

fn barrier_msg(n: u64) -> StageRequest {
    StageRequest { kind: Some(Kind::Barrier(Barrier { checkpoint_id: n })) }
}

fn one_line_batch(trace: u64) -> StageRequest {
    batch_msg(raw_batch(trace, 10 * trace, &[&ev(T0, "click", "u1", "1")], vec![]))
}

/// What each message on the downstream stream was: "header", "batch <trace>", "barrier <N>", "end".
fn shapes(msgs: &[StageRequest]) -> Vec<String> {
    msgs.iter()
        .map(|m| match &m.kind {
            Some(Kind::Header(_)) => "header".to_string(),
            Some(Kind::Batch(b)) => format!("batch {}", b.meta.as_ref().unwrap().trace_id),
            Some(Kind::Barrier(b)) => format!("barrier {}", b.checkpoint_id),
            Some(Kind::End(_)) => "end".to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// What came back up: "ack <trace>", "done <N>", "complete".
fn replies(resp: &[StageResponse]) -> Vec<String> {
    resp.iter()
        .map(|r| match &r.kind {
            Some(stage_response::Kind::Ack(a)) => format!("ack {a}"),
            Some(stage_response::Kind::CheckpointDone(n)) => format!("done {n}"),
            Some(stage_response::Kind::Complete(_)) => "complete".to_string(),
            None => "empty".to_string(),
        })
        .collect()
}

/// A ParseService.Process stream driven message by message, like ingest does.
struct Live {
    tx: mpsc::Sender<StageRequest>,
    rx: Streaming<StageResponse>,
}

impl Live {
    async fn open(addr: &str) -> Live {
        let mut client = ParseServiceClient::connect(format!("http://{addr}")).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let rx = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
        Live { tx, rx }
    }

    async fn send(&self, m: StageRequest) {
        self.tx.send(m).await.unwrap();
    }

    /// The next reply or the stream's end; panics when nothing comes within 5 s.
    async fn next(&mut self) -> Result<Option<StageResponse>, Status> {
        tokio::time::timeout(Duration::from_secs(5), self.rx.message())
            .await
            .expect("no reply and no end of the stream within 5 s")
    }

    /// Replies until `want` arrives (panics on an error or the stream's end first).
    async fn until(&mut self, want: &str) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let r = self.next().await.unwrap_or_else(|e| panic!("stream failed waiting for {want:?}: {e:?}"));
            let r = r.unwrap_or_else(|| panic!("stream ended waiting for {want:?}; got {got:?}"));
            got.extend(replies(&[r]));
            if got.last().unwrap() == want {
                return got;
            }
        }
    }
}

/// Polls `cond` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barriers_are_forwarded_in_order_between_batches_without_acks() {
    for passthrough in [false, true] {
        let h = start(Mode::Ack).await;
        let msgs = vec![
            ckpt_header("run-b", 1, 0, passthrough),
            one_line_batch(1),
            one_line_batch(2),
            barrier_msg(1),
            one_line_batch(3),
            barrier_msg(2),
            barrier_msg(3),
            one_line_batch(4),
            end_msg(4),
        ];
        let (resp, status) = drive(&h.parse_addr, msgs.clone()).await;
        status.expect("the stream ends OK");
        let seen = h.seen.lock().unwrap();
        assert_eq!(
            shapes(&seen.messages),
            ["header", "batch 1", "batch 2", "barrier 1", "batch 3", "barrier 2", "barrier 3", "batch 4", "end"],
            "passthrough={passthrough}"
        );
        // Forwarded unchanged, the header's checkpoint fields included.
        assert_eq!(seen.messages[0], msgs[0]);
        assert_eq!(seen.messages[3], barrier_msg(1));
        // Acks for batches only; each barrier's checkpoint_done comes back up.
        let r = replies(&resp);
        let acks: Vec<&String> = r.iter().filter(|x| x.starts_with("ack")).collect();
        assert_eq!(acks, ["ack 1", "ack 2", "ack 3", "ack 4"]);
        let done: Vec<&String> = r.iter().filter(|x| x.starts_with("done")).collect();
        assert_eq!(done, ["done 1", "done 2", "done 3"]);
        assert_eq!(r.last().unwrap(), "complete");
        let Some(Kind::End(end)) = &seen.messages[8].kind else { panic!() };
        assert_eq!((end.stages[1].batches_in, end.stages[1].batches_out), (4, 4));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_takes_no_credit_and_checkpoint_done_comes_straight_back_up() {
    // The downstream acknowledges nothing until a barrier arrives: 8 batches use up the window,
    // yet the barrier behind them must go on (else this hangs), and its checkpoint_done comes
    // back up while the run is open.
    let h = start(Mode::HoldUntil(1000)).await;
    let mut live = Live::open(&h.parse_addr).await;
    live.send(ckpt_header("run-c", 1, 0, false)).await;
    for t in 1..=8 {
        live.send(one_line_batch(t)).await;
    }
    live.send(barrier_msg(1)).await;
    let got = live.until("done 1").await;
    assert_eq!(got, ["ack 1", "ack 2", "ack 3", "ack 4", "ack 5", "ack 6", "ack 7", "ack 8", "done 1"]);
    assert_eq!(h.seen.lock().unwrap().max_outstanding, 8, "the window was full when the barrier came");
    live.send(one_line_batch(9)).await;
    live.send(barrier_msg(2)).await;
    assert_eq!(live.until("done 2").await, ["ack 9", "done 2"]);
    live.send(end_msg(9)).await;
    assert_eq!(live.until("complete").await, ["complete"]);
    let seen = h.seen.lock().unwrap();
    assert_eq!(shapes(&seen.messages[8..]), ["batch 8", "barrier 1", "batch 9", "barrier 2", "end"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_attempt_of_a_run_ends_the_older_stream_first() {
    let h = start(Mode::Ack).await;
    let mut old = Live::open(&h.parse_addr).await;
    old.send(ckpt_header("run-r", 1, 0, false)).await;
    old.send(one_line_batch(1)).await;
    old.send(barrier_msg(1)).await;
    assert_eq!(old.until("done 1").await, ["ack 1", "done 1"]);
    old.send(one_line_batch(2)).await;
    assert_eq!(old.until("ack 2").await, ["ack 2"]);
    eventually("batch 2 reached the downstream", || h.seen.lock().unwrap().messages.len() == 4).await;

    // Attempt 2 of the same run, from checkpoint 1, while attempt 1's upstream is still open.
    let mut new = Live::open(&h.parse_addr).await;
    new.send(ckpt_header("run-r", 2, 1, false)).await;
    // The older stream ends with ABORTED naming both attempts, and nothing else comes on it.
    let e = old.next().await.expect_err("the older stream must end with an error");
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(e.message(), "parse: attempt 1 of run run-r was superseded by attempt 2");
    // Its downstream stream ended too.
    eventually("attempt 1's downstream stream ends", || h.seen.lock().unwrap().ends.iter().any(|e| e.0 == 1)).await;
    // Whatever attempt 1's upstream still sends goes nowhere.
    let _ = old.tx.send(one_line_batch(3)).await;
    let _ = old.tx.send(barrier_msg(2)).await;

    new.send(one_line_batch(2)).await;
    new.send(barrier_msg(2)).await;
    new.send(end_msg(2)).await;
    assert_eq!(new.until("complete").await, ["ack 2", "done 2", "complete"]);
    assert!(new.next().await.unwrap().is_none(), "attempt 2 ends OK");
    let seen = h.seen.lock().unwrap();
    let of = |a: u32| -> Vec<String> {
        let m: Vec<StageRequest> =
            seen.messages.iter().zip(&seen.attempts).filter(|x| *x.1 == a).map(|x| x.0.clone()).collect();
        shapes(&m)
    };
    assert_eq!(of(1), ["header", "batch 1", "barrier 1", "batch 2"]);
    assert_eq!(of(2), ["header", "batch 2", "barrier 2", "end"]);
    assert_eq!(seen.messages[4], ckpt_header("run-r", 2, 1, false), "the header is forwarded unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_different_runs_do_not_end_each_other() {
    let h = start(Mode::Ack).await;
    let mut a = Live::open(&h.parse_addr).await;
    a.send(ckpt_header("run-a", 1, 0, false)).await;
    a.send(one_line_batch(1)).await;
    a.until("ack 1").await;
    let mut b = Live::open(&h.parse_addr).await;
    b.send(ckpt_header("run-b", 1, 0, false)).await;
    b.send(one_line_batch(1)).await;
    b.until("ack 1").await;
    a.send(end_msg(1)).await;
    assert_eq!(a.until("complete").await, ["complete"]);
    b.send(end_msg(1)).await;
    assert_eq!(b.until("complete").await, ["complete"]);
}

/// A FakeRules on a runtime of its own, so that it can die at once like a killed process: the
/// runtime's shutdown drops its tasks and with them every socket.
struct DoomedRules {
    rt: Option<tokio::runtime::Runtime>,
    addr: String,
    seen: Arc<Mutex<Seen>>,
}

impl DoomedRules {
    fn start() -> DoomedRules {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let fake = FakeRules { seen: seen.clone(), mode: Mode::Ack };
        rt.spawn(async move {
            let l = TcpListener::from_std(l).unwrap();
            let _ = Server::builder()
                .add_service(RulesServiceServer::new(fake))
                .serve_with_incoming(TcpListenerStream::new(l))
                .await;
        });
        DoomedRules { rt: Some(rt), addr, seen }
    }

    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for DoomedRules {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The codes on which ingest does not retry (PIPELINE.md "Who recovers").
const FINAL_CODES: [Code; 7] = [
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::ResourceExhausted,
    Code::NotFound,
    Code::PermissionDenied,
    Code::Unauthenticated,
    Code::Unimplemented,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_downstream_fails_the_stream_at_once_and_the_next_attempt_looks_it_up_again() {
    parse::log::set_enabled(false);
    let mut dead = DoomedRules::start();
    let address = Arc::new(Mutex::new(dead.addr.clone()));
    let (url, lookups) = lookup_server_of(address.clone(), 0).await;
    let (listener, addr) = parse::stage::bind("127.0.0.1", 0).await.unwrap();
    let mut cfg = Config::new("parse", "rules");
    cfg.control = Some(parse::control::Control::new(&url).unwrap());
    tokio::spawn(parse::stage::serve(listener, ParseStage::new(cfg), std::future::pending::<()>()));
    let addr = addr.to_string();

    let mut live = Live::open(&addr).await;
    live.send(ckpt_header("run-k", 1, 0, false)).await;
    live.send(one_line_batch(1)).await;
    live.send(barrier_msg(1)).await;
    assert_eq!(live.until("done 1").await, ["ack 1", "done 1"]);

    // Nothing is in flight and nothing is sent: only the broken connection can end the stream.
    // No keep-alive or deadline is set, so only noticing the broken connection can end it; the
    // timeout only keeps a broken implementation from hanging the suite.
    dead.kill();
    let e = tokio::time::timeout(Duration::from_secs(30), live.next())
        .await
        .expect("the stream must end when the downstream dies, not hang")
        .expect_err("the stream must fail when the downstream dies");
    assert!(e.message().starts_with("parse: rules failed: "), "{e:?}");
    assert!(!FINAL_CODES.contains(&e.code()), "ingest must be able to retry on {e:?}");
    assert_eq!(*lookups.lock().unwrap(), 1);

    // The supervisor restarted rules elsewhere; attempt 2 finds it through a new lookup.
    let (new_rules, seen) = start_rules(Mode::Ack).await;
    *address.lock().unwrap() = new_rules;
    let mut live = Live::open(&addr).await;
    live.send(ckpt_header("run-k", 2, 1, false)).await;
    live.send(one_line_batch(2)).await;
    live.send(end_msg(2)).await;
    assert_eq!(live.until("complete").await, ["ack 2", "complete"]);
    assert_eq!(*lookups.lock().unwrap(), 2, "looked up again for the new attempt");
    assert_eq!(shapes(&seen.lock().unwrap().messages), ["header", "batch 2", "end"]);
    assert_eq!(shapes(&dead.seen.lock().unwrap().messages), ["header", "batch 1", "barrier 1"]);
}

// ---- MR_CRASH_AT on the real binary ----

/// The `parse` binary, killed when the test ends.
struct Proc {
    child: std::process::Child,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An http:// URL where nothing listens, so the binary never registers with a real control server.
fn dead_control_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn parse_command(downstream: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_parse"));
    c.args(["--port", "0", "--downstream-address", downstream, "--control-url", &dead_control_url()]);
    for v in ["MR_CRASH_AT", "MR_CRASH_MARKER", "MR_PROCESS_NAME", "MR_CONTROL_TOKEN", "MR_CONTROL_HTTP_URL"] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Starts the binary and reads its address from the "serving ParseService on …" log line.
fn spawn_parse(downstream: &str, env: &[(&str, &str)]) -> Proc {
    use std::io::BufRead;
    let mut child = parse_command(downstream, env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(a) = v.get("address").and_then(|a| a.as_str()) {
                let _ = tx.send(a.to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("parse did not start serving within 10 s");
    Proc { child, addr }
}

fn temp_marker(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("parse-test-{tag}-{}-{nanos}.marker", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_a_barrier_kills_the_process_once_before_forwarding_it() {
    use std::os::unix::process::ExitStatusExt;
    parse::log::set_enabled(false);
    let (rules, seen) = start_rules(Mode::Ack).await;
    let marker = temp_marker("crash");
    let m = marker.to_str().unwrap();
    let env = [("MR_CRASH_AT", "barrier:2"), ("MR_CRASH_MARKER", m)];

    let mut p = spawn_parse(&rules, &env);
    let mut live = Live::open(&p.addr).await;
    live.send(ckpt_header("run-x", 1, 0, false)).await;
    live.send(one_line_batch(1)).await;
    live.send(barrier_msg(1)).await;
    assert_eq!(live.until("done 1").await, ["ack 1", "done 1"]);
    live.send(one_line_batch(2)).await;
    assert_eq!(live.until("ack 2").await, ["ack 2"]);
    eventually("batch 2 reached the downstream", || seen.lock().unwrap().messages.len() == 4).await;
    assert!(!marker.exists());
    live.send(barrier_msg(2)).await;
    let e = live.next().await.expect_err("the process died: the stream breaks");
    assert_ne!(e.code(), Code::Ok);
    let mut status = None;
    for _ in 0..500 {
        status = p.child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = status.expect("parse must have died");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(marker.exists(), "the marker is created before the kill");
    // The barrier was not forwarded.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = shapes(&seen.lock().unwrap().messages);
    assert_eq!(&got[..4], ["header", "batch 1", "barrier 1", "batch 2"]);
    assert!(!got.contains(&"barrier 2".to_string()), "{got:?}");

    // Restarted with the same environment, the marker exists: barrier 2 passes this time.
    let (rules, seen) = start_rules(Mode::Ack).await;
    let p = spawn_parse(&rules, &env);
    let mut live = Live::open(&p.addr).await;
    live.send(ckpt_header("run-x", 2, 1, false)).await;
    live.send(one_line_batch(2)).await;
    live.send(barrier_msg(2)).await;
    live.send(end_msg(2)).await;
    assert_eq!(live.until("complete").await, ["ack 2", "done 2", "complete"]);
    assert_eq!(shapes(&seen.lock().unwrap().messages), ["header", "batch 2", "barrier 2", "end"]);
    std::fs::remove_file(&marker).unwrap();
}

#[test]
fn a_bad_crash_point_is_a_startup_error_naming_it() {
    let marker = temp_marker("startup");
    let m = marker.to_str().unwrap();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("MR_CRASH_AT", "saved:1"), ("MR_CRASH_MARKER", m)],
            "MR_CRASH_AT=saved:1: crash point \"saved\" does not apply to parse",
        ),
        (
            &[("MR_CRASH_AT", "commit:1"), ("MR_CRASH_MARKER", m)],
            "MR_CRASH_AT=commit:1: crash point \"commit\" does not apply to parse",
        ),
        (
            &[("MR_CRASH_AT", "barrier:two"), ("MR_CRASH_MARKER", m)],
            "MR_CRASH_AT=barrier:two: the checkpoint must be a positive integer",
        ),
        (&[("MR_CRASH_AT", "barrier")], "MR_CRASH_AT must be <point>:<N>"),
        (&[("MR_CRASH_AT", "barrier:3")], "MR_CRASH_AT=barrier:3 needs MR_CRASH_MARKER"),
    ];
    for (env, want) in cases {
        let mut child = parse_command("127.0.0.1:1", env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut status = None;
        for _ in 0..500 {
            status = child.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{env:?}: parse kept running");
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(2), "{env:?}: {err}");
        assert!(err.starts_with(&format!("parse: {want}")), "{env:?}: {err}");
    }
    assert!(!marker.exists());
}
