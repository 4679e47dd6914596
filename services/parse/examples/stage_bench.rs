//! End-to-end benchmark of a running parse stage over gRPC: this process frames a file into
//! RawLines batches in memory (like ingest: `batch` lines each), then plays ingest (window 8)
//! and a fake downstream RulesService (acks every batch, answers End with RunComplete) around
//! the parse process under test, and reports events/s through it.
//!   parse --downstream-address 127.0.0.1:PORT_OF_FAKE &      (the stage under test)
//!   cargo run --release --example stage_bench -- FILE PARSE_ADDR FAKE_PORT [BATCH] [PASSTHROUGH]
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parse::checkfile::{LineSink, frame_reader};
use parse::pb::batch::Payload;
use parse::pb::parse_service_client::ParseServiceClient;
use parse::pb::rules_service_server::{RulesService, RulesServiceServer};
use parse::pb::stage_request::Kind;
use parse::pb::stage_response;
use parse::pb::{Batch, BatchCounters, BatchMeta, End, RawLines, RunComplete, RunHeader, StageRequest, StageResponse};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

struct Batcher {
    size: usize,
    data: Vec<u8>,
    nums: Vec<u8>,
    n: usize,
    out: Vec<Batch>,
}

impl Batcher {
    fn cut(&mut self) {
        if self.n == 0 {
            return;
        }
        let trace = self.out.len() as u64 + 1;
        self.out.push(Batch {
            meta: Some(BatchMeta { trace_id: trace, ..Default::default() }),
            counters: Some(BatchCounters { lines: self.n as u64, invalid: 0, dropped: 0 }),
            dead_letters: vec![],
            payload: Some(Payload::Raw(RawLines {
                data: Bytes::from(std::mem::take(&mut self.data)),
                line_numbers: Bytes::from(std::mem::take(&mut self.nums)),
                shared: None,
            })),
        });
        self.n = 0;
    }
}

impl LineSink for Batcher {
    fn line(&mut self, buf: &[u8], start: usize, end: usize, line_no: u64) {
        self.data.extend_from_slice(&buf[start..end]);
        self.data.push(b'\n');
        self.nums.extend_from_slice(&line_no.to_le_bytes());
        self.n += 1;
        if self.n >= self.size || self.data.len() >= 4 << 20 {
            self.cut();
        }
    }
    fn oversize(&mut self, _line_no: u64) {}
}

#[derive(Clone)]
struct Fake {
    events: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl RulesService for Fake {
    type ProcessStream = ReceiverStream<Result<StageResponse, Status>>;
    async fn process(&self, req: Request<Streaming<StageRequest>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                match m.kind {
                    Some(Kind::Batch(b)) => {
                        if let Some(Payload::Events(e)) = &b.payload {
                            events.fetch_add(e.count as u64, Ordering::Relaxed);
                        }
                        let id = b.meta.unwrap().trace_id;
                        let _ = tx.send(Ok(StageResponse { kind: Some(stage_response::Kind::Ack(id)) })).await;
                    }
                    Some(Kind::End(end)) => {
                        let c = RunComplete { stages: end.stages, ..Default::default() };
                        let _ = tx.send(Ok(StageResponse { kind: Some(stage_response::Kind::Complete(c)) })).await;
                        return;
                    }
                    _ => {}
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = &args[1];
    let parse_addr = &args[2];
    let fake_port: u16 = args[3].parse().unwrap();
    let batch: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(10_000);
    let passthrough = args.get(5).is_some_and(|s| s == "passthrough");

    let mut b = Batcher { size: batch, data: vec![], nums: vec![], n: 0, out: vec![] };
    frame_reader(&mut std::fs::File::open(file).unwrap(), &mut b).unwrap();
    b.cut();
    let batches = b.out;
    let lines: u64 = batches.iter().map(|b| b.counters.unwrap().lines).sum();

    let events = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", fake_port)).await.unwrap();
    let fake = Fake { events: events.clone() };
    tokio::spawn(
        tonic::transport::Server::builder()
            .initial_stream_window_size(Some(16 << 20))
            .initial_connection_window_size(Some(32 << 20))
            .add_service(RulesServiceServer::new(fake).max_decoding_message_size(64 << 20))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{parse_addr}"))
        .unwrap()
        .initial_stream_window_size(Some(16 << 20))
        .initial_connection_window_size(Some(32 << 20))
        .connect()
        .await
        .unwrap();
    let mut client = ParseServiceClient::new(channel).max_encoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel(16);
    let credits = Arc::new(Semaphore::new(8));
    let n = batches.len() as u64;
    let t0 = Instant::now();
    let header = RunHeader { run_id: "bench".into(), passthrough, ..Default::default() };
    tx.send(StageRequest { kind: Some(Kind::Header(header)) }).await.unwrap();
    let sender = {
        let credits = credits.clone();
        tokio::spawn(async move {
            for b in batches {
                credits.acquire().await.unwrap().forget();
                tx.send(StageRequest { kind: Some(Kind::Batch(b)) }).await.unwrap();
            }
            tx.send(StageRequest { kind: Some(Kind::End(End { batches: n, ..Default::default() })) }).await.unwrap();
        })
    };
    let mut stream = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut complete = None;
    while let Some(m) = stream.message().await.unwrap() {
        match m.kind {
            Some(stage_response::Kind::Ack(_)) => credits.add_permits(1),
            Some(stage_response::Kind::Complete(c)) => complete = Some(c),
            Some(stage_response::Kind::CheckpointDone(_)) | None => {}
        }
    }
    sender.await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let c = complete.expect("RunComplete");
    let parse = c.stages.iter().find(|s| s.stage == "parse").expect("parse metrics");
    println!(
        "{lines} lines in {n} batches, {} events out, {secs:.3} s wall = {:.2} M lines/s; parse busy {:.3} s, wait {:.3} s, cpu {:.3} s ({:.2} M lines per cpu-second)",
        events.load(Ordering::Relaxed),
        lines as f64 / secs / 1e6,
        parse.busy_ns as f64 / 1e9,
        parse.wait_ns as f64 / 1e9,
        parse.cpu_seconds,
        lines as f64 / parse.cpu_seconds / 1e6,
    );
}
