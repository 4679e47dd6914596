//! ParseService.Process: one run = one inbound stream from ingest and one outbound stream to
//! the downstream (rules), following services/PIPELINE.md: header first, each batch validated
//! into event columns and dead letters, sent under a credit window of 8, acknowledged upstream;
//! End gets this stage's metrics and is forwarded; the downstream's RunComplete comes back up.
//! Checkpointed runs: barriers pass through in order (no credit, no ack), the downstream's
//! checkpoint_done goes straight back up, and a new attempt of a run ends the older one first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::batch::BatchParser;
use crate::codec::{Outbound, open_rules_process};
use crate::control::{Control, Reporter};
use crate::crash::CrashPoint;
use crate::log;
use crate::metrics;
use crate::pb::batch::Payload;
use crate::pb::parse_service_server::{ParseService, ParseServiceServer};
use crate::pb::stage_request::Kind;
use crate::pb::stage_response;
use crate::pb::{Batch, BatchCounters, RawLines, RunComplete, RunHeader, StageMetrics, StageRequest, StageResponse};
use crate::shared::SharedFiles;

/// Batches sent downstream and not yet acknowledged, at most.
pub const WINDOW: usize = 8;
/// Largest message accepted or sent.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// HTTP/2 flow-control windows: large enough for several multi-MiB batches in flight.
const STREAM_WINDOW: u32 = 16 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;

/// How a stage process is set up.
pub struct Config {
    /// This stage's name (logs, errors).
    pub name: String,
    /// The downstream's name in the topology.
    pub downstream: String,
    /// Fixed downstream address (host:port): skips the topology lookup.
    pub downstream_address: Option<String>,
    /// The control server, for lookups; None without one.
    pub control: Option<Control>,
    /// Activity reporting, when registered.
    pub reporter: Option<Arc<Reporter>>,
    /// How long to retry the downstream lookup.
    pub lookup_timeout: Duration,
    /// MR_CRASH_AT / MR_CRASH_MARKER (tests of recovery), read once by main.
    pub crash: Option<CrashPoint>,
}

impl Config {
    pub fn new(name: &str, downstream: &str) -> Config {
        Config {
            name: name.to_string(),
            downstream: downstream.to_string(),
            downstream_address: None,
            control: None,
            reporter: None,
            lookup_timeout: Duration::from_secs(30),
            crash: None,
        }
    }
}

/// The gRPC service.
#[derive(Clone)]
pub struct ParseStage {
    cfg: Arc<Config>,
    runs: Arc<Runs>,
}

impl ParseStage {
    pub fn new(cfg: Config) -> ParseStage {
        ParseStage { cfg: Arc::new(cfg), runs: Arc::new(Runs::default()) }
    }

    /// The tonic service with the stage's message size limits.
    pub fn into_service(self) -> ParseServiceServer<ParseStage> {
        ParseServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// Serves ParseService on `listener` (h2c) until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    stage: ParseStage,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .add_service(stage.into_service())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Binds `host:port` (port 0: an ephemeral port).
pub async fn bind(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind((host, port)).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

type Upstream = mpsc::Sender<Result<StageResponse, Status>>;

#[tonic::async_trait]
impl ParseService for ParseStage {
    type ProcessStream = ReceiverStream<Result<StageResponse, Status>>;

    async fn process(
        &self,
        request: Request<Streaming<StageRequest>>,
    ) -> Result<Response<Self::ProcessStream>, Status> {
        let (tx, rx) = mpsc::channel(2 * WINDOW + 8);
        let cfg = self.cfg.clone();
        tokio::spawn(run_stream(cfg, self.runs.clone(), request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Why a run stopped early.
enum Stop {
    /// Fail the inbound stream with this status.
    Fail(Status),
    /// The upstream went away: forget the run (the downstream stream is cancelled on drop).
    Cancelled,
    /// A header of the same run (this attempt) arrived on another stream: this one sends nothing
    /// more and ends with ABORTED.
    Superseded(u32),
}

/// The runs this process has a stream for, by run id: a header for a run id that is still here
/// (an earlier attempt whose upstream has not broken yet) ends that older stream first.
#[derive(Default)]
struct Runs {
    next_id: AtomicU64,
    active: Mutex<HashMap<String, Active>>,
}

struct Active {
    /// Tells the stream's task it is superseded (by this attempt).
    cancel: oneshot::Sender<u32>,
    /// Yields None once every task of the stream (its run and its downstream reader) is gone.
    gone: mpsc::Receiver<()>,
    id: u64,
}

/// A stream's entry in `Runs`, removed when the stream ends unless a newer attempt took it over.
struct Registration {
    runs: Arc<Runs>,
    run_id: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut active = self.runs.active.lock().unwrap();
        if active.get(&self.run_id).is_some_and(|a| a.id == self.id) {
            active.remove(&self.run_id);
        }
    }
}

impl Runs {
    /// Registers a stream for `run_id`. Returns its registration, the signal that it has been
    /// superseded, the guard whose clones keep it counted as alive, and the older stream of the
    /// same run, if any, which the caller ends first.
    fn begin(
        self: &Arc<Self>,
        run_id: &str,
    ) -> (Registration, oneshot::Receiver<u32>, mpsc::Sender<()>, Option<Active>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (cancel, cancelled) = oneshot::channel();
        let (alive, gone) = mpsc::channel(1);
        // A stream without a run id has nothing to be confused with.
        let older = match run_id.is_empty() {
            true => None,
            false => self.active.lock().unwrap().insert(run_id.to_string(), Active { cancel, gone, id }),
        };
        (Registration { runs: self.clone(), run_id: run_id.to_string(), id }, cancelled, alive, older)
    }
}

impl Active {
    /// Ends this (older) stream and waits until its tasks are gone, so its downstream stream is
    /// cancelled before the new attempt opens one. Bounded: its teardown is only drops.
    async fn end(mut self, by_attempt: u32) {
        let _ = self.cancel.send(by_attempt);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.gone.recv()).await;
    }
}

/// What the downstream's response stream says.
enum DownEvent {
    Complete(RunComplete),
    Failed(Status),
    Closed,
}

struct Figures {
    busy: Duration,
    wait: Duration,
    batches_in: u64,
    batches_out: u64,
    events_in: u64,
    events_out: u64,
    invalid: u64,
}

/// Aborts the downstream reader (and so cancels the downstream stream) when the run ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn kind_name(k: &Option<Kind>) -> &'static str {
    match k {
        Some(Kind::Header(_)) => "a RunHeader",
        Some(Kind::Batch(_)) => "a Batch",
        Some(Kind::ResultPart(_)) => "a ResultPart",
        Some(Kind::End(_)) => "an End",
        Some(Kind::Barrier(_)) => "a Barrier",
        None => "an empty message",
    }
}

async fn run_stream(cfg: Arc<Config>, runs: Arc<Runs>, mut inbound: Streaming<StageRequest>, tx: Upstream) {
    let name = cfg.name.clone();
    let t = Instant::now();
    let first = tokio::select! {
        m = inbound.message() => m,
        _ = tx.closed() => return,
    };
    let first_wait = t.elapsed();
    let header = match first {
        Ok(Some(StageRequest { kind: Some(Kind::Header(h)) })) => h,
        Ok(Some(other)) => {
            let msg = format!("{name}: the first message must be a RunHeader, got {}", kind_name(&other.kind));
            log::error(&name, "", &msg);
            let _ = tx.send(Err(Status::failed_precondition(msg))).await;
            return;
        }
        Ok(None) => return,
        Err(s) => {
            if let Stop::Fail(status) = inbound_failure(&name, s) {
                log::error(&name, "", status.message());
                let _ = tx.send(Err(status)).await;
            }
            return;
        }
    };
    let run_id = header.run_id.clone();
    let attempt = header.attempt;
    let started = Instant::now();
    let (_registration, superseded, alive, older) = runs.begin(&run_id);
    let work = async {
        if let Some(older) = older {
            older.end(attempt).await;
        }
        run(&cfg, header, inbound, &tx, first_wait, alive).await
    };
    let superseded = async {
        match superseded.await {
            Ok(by) => by,
            // Only a newer attempt takes the entry, and it always says so first (a stream
            // without a run id has no entry: never superseded).
            Err(_) => std::future::pending().await,
        }
    };
    // Dropping `work` drops everything the run holds: its downstream stream is cancelled.
    let outcome = tokio::select! {
        r = work => r,
        by = superseded => Err(Stop::Superseded(by)),
    };
    match outcome {
        Ok(f) => log::line(
            "info",
            &name,
            &run_id,
            &format!(
                "run complete: {} batches, {} lines, {} events, {} invalid",
                f.batches_out, f.events_in, f.events_out, f.invalid
            ),
            &[
                ("busyMs", json!(f.busy.as_millis() as u64)),
                ("waitMs", json!(f.wait.as_millis() as u64)),
                ("wallMs", json!(started.elapsed().as_millis() as u64)),
            ],
        ),
        Err(Stop::Fail(status)) => {
            log::error(&name, &run_id, &format!("run failed: {}", status.message()));
            let _ = tx.send(Err(status)).await;
        }
        Err(Stop::Cancelled) => log::info(&name, &run_id, "run cancelled: the upstream stream went away"),
        Err(Stop::Superseded(by)) => {
            let msg = format!("{name}: attempt {attempt} of run {run_id} was superseded by attempt {by}");
            log::info(&name, &run_id, &msg);
            // Nothing more goes up this stream but its end; never wait on an upstream that
            // has moved on.
            let _ = tx.try_send(Err(Status::aborted(msg)));
        }
    }
}

async fn lookup(cfg: &Config, tx: &Upstream) -> Result<String, Stop> {
    let not_registered = |why: &str| {
        Stop::Fail(Status::unavailable(format!(
            "{}: downstream {} is not registered with the topology{why}",
            cfg.name, cfg.downstream
        )))
    };
    let Some(control) = &cfg.control else { return Err(not_registered(" (no control server)")) };
    let deadline = Instant::now() + cfg.lookup_timeout;
    let mut last_error = String::new();
    loop {
        match control.lookup(&cfg.downstream).await {
            Ok(Some(a)) => return Ok(a),
            Ok(None) => last_error.clear(),
            Err(e) => last_error = e,
        }
        if Instant::now() >= deadline {
            let why =
                if last_error.is_empty() { String::new() } else { format!(" (topology lookup failed: {last_error})") };
            return Err(not_registered(&why));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tx.closed() => return Err(Stop::Cancelled),
        }
    }
}

fn down_failure(cfg: &Config, ev: Option<DownEvent>) -> Stop {
    let (code, msg) = match ev {
        Some(DownEvent::Failed(s)) => (s.code(), s.message().to_string()),
        Some(DownEvent::Complete(_)) => (Code::Internal, "sent RunComplete before End".to_string()),
        Some(DownEvent::Closed) | None => (Code::Internal, "closed the stream without a RunComplete".to_string()),
    };
    Stop::Fail(Status::new(code, format!("{}: {} failed: {msg}", cfg.name, cfg.downstream)))
}

/// Sends `msg` on the downstream stream, in order after everything sent before; gives up as soon
/// as the downstream fails or the upstream goes away.
async fn send_down(
    cfg: &Config,
    dtx: &mpsc::Sender<Outbound>,
    ev_rx: &mut mpsc::UnboundedReceiver<DownEvent>,
    tx: &Upstream,
    msg: impl Into<Outbound>,
) -> Result<(), Stop> {
    let msg = msg.into();
    tokio::select! {
        biased;
        ev = ev_rx.recv() => Err(down_failure(cfg, ev)),
        _ = tx.closed() => Err(Stop::Cancelled),
        r = dtx.send(msg) => match r {
            Ok(()) => Ok(()),
            Err(_) => Err(down_failure(cfg, ev_rx.recv().await)),
        },
    }
}

/// Sends `msg` upstream (an ack); gives up as soon as the downstream fails or the upstream goes.
async fn send_up(
    cfg: &Config,
    ev_rx: &mut mpsc::UnboundedReceiver<DownEvent>,
    tx: &Upstream,
    msg: StageResponse,
) -> Result<(), Stop> {
    tokio::select! {
        biased;
        ev = ev_rx.recv() => Err(down_failure(cfg, ev)),
        r = tx.send(Ok(msg)) => r.map_err(|_| Stop::Cancelled),
    }
}

fn invalid(msg: String) -> Stop {
    Stop::Fail(Status::invalid_argument(msg))
}

/// Lines (raw payload) or events (events payload) a batch carries.
fn payload_items(b: &Batch) -> u64 {
    match &b.payload {
        Some(Payload::Raw(r)) => (r.line_numbers.len() / 8) as u64,
        Some(Payload::Events(e)) => e.count as u64,
        None => 0,
    }
}

/// Takes the raw lines off a batch and checks them (a malformed batch fails the stream); with
/// `count_lines` false only [`BatchParser::check_shape`] (the caller parses with a line count
/// check). Returns the lines and the batch's trace id.
fn take_raw(name: &str, b: &mut Batch, count_lines: bool) -> Result<(RawLines, u64), Status> {
    let Some(meta) = b.meta.as_ref() else {
        return Err(Status::invalid_argument(format!("{name}: batch without meta")));
    };
    let trace = meta.trace_id;
    let raw = match b.payload.take() {
        Some(Payload::Raw(r)) => r,
        Some(Payload::Events(_)) => {
            return Err(Status::invalid_argument(format!(
                "{name}: batch {trace}: payload is events, expected raw lines"
            )));
        }
        None => {
            return Err(Status::invalid_argument(format!("{name}: batch {trace}: has no payload, expected raw lines")));
        }
    };
    let checked = if count_lines { BatchParser::check(&raw) } else { BatchParser::check_shape(&raw) };
    checked.map_err(|m| malformed(name, trace, m))?;
    Ok((raw, trace))
}

fn malformed(name: &str, trace: u64, m: crate::batch::Malformed) -> Status {
    Status::invalid_argument(format!("{name}: batch {trace}: {}", m.0))
}

/// The stage's work on one batch, as [`process_batch`] does it, but returning the protobuf
/// encoding of the `StageRequest` carrying the resulting batch (the same bytes prost would
/// write for it): (encoding, lines in, events out, invalid).
pub fn process_batch_encoded(
    name: &str,
    parser: &mut BatchParser,
    mut b: Batch,
) -> Result<(Vec<u8>, u64, u64, u64), Status> {
    let (raw, trace) = take_raw(name, &mut b, false)?;
    let lines = (raw.line_numbers.len() / 8) as u64;
    let (out, events, own_invalid) = parser
        .parse_encoded(&raw, b.meta.as_ref(), b.counters.take(), std::mem::take(&mut b.dead_letters))
        .map_err(|m| malformed(name, trace, m))?;
    Ok((out, lines, events, own_invalid))
}

/// The stage's work on one batch: returns (batch to forward, lines in, events out, invalid).
pub fn process_batch(name: &str, parser: &mut BatchParser, mut b: Batch) -> Result<(Batch, u64, u64, u64), Status> {
    let (raw, _) = take_raw(name, &mut b, true)?;
    let parsed = parser.parse(&raw);
    let own_invalid = parsed.dead_letters.len() as u64;
    let mut counters: BatchCounters = b.counters.take().unwrap_or_default();
    counters.invalid += own_invalid;
    b.counters = Some(counters);
    b.dead_letters = crate::batch::merge_dead_letters(std::mem::take(&mut b.dead_letters), parsed.dead_letters);
    let events = parsed.events.count as u64;
    b.payload = Some(Payload::Events(parsed.events));
    Ok((b, parsed.lines, events, own_invalid))
}

/// Batches worked on at once: one per core of the 2-core machine the stage is built for.
const WORKERS: usize = 2;

type WorkResult = (BatchParser, Result<(Vec<u8>, u64, u64, u64), Status>, Duration);

/// A batch being worked on, on a thread of the blocking pool.
struct Working {
    trace: u64,
    task: tokio::task::JoinHandle<WorkResult>,
}

/// What sending a batch on needs: the run's downstream stream, its credits and its events.
struct Chain<'a> {
    cfg: &'a Config,
    credits: &'a Semaphore,
    inflight: &'a Mutex<VecDeque<(u64, Instant, u64)>>,
    dtx: &'a mpsc::Sender<Outbound>,
    ev_rx: &'a mut mpsc::UnboundedReceiver<DownEvent>,
    tx: &'a Upstream,
}

impl Chain<'_> {
    /// Waits for every batch being worked on and sends them on, in order.
    async fn drain(
        &mut self,
        f: &mut Figures,
        working: &mut VecDeque<Working>,
        parsers: &mut Vec<BatchParser>,
    ) -> Result<(), Stop> {
        while let Some(w) = working.pop_front() {
            let done = tokio::select! {
                biased;
                ev = self.ev_rx.recv() => return Err(down_failure(self.cfg, ev)),
                _ = self.tx.closed() => return Err(Stop::Cancelled),
                d = w.task => d,
            };
            self.forward(f, w.trace, done, parsers).await?;
        }
        Ok(())
    }

    /// A batch's work is done: takes its parser back and sends the result on.
    async fn forward(
        &mut self,
        f: &mut Figures,
        trace: u64,
        done: Result<WorkResult, tokio::task::JoinError>,
        parsers: &mut Vec<BatchParser>,
    ) -> Result<(), Stop> {
        let name = self.cfg.name.as_str();
        let (parser, r, busy) =
            done.map_err(|e| Stop::Fail(Status::internal(format!("{name}: batch {trace}: the work failed: {e}"))))?;
        parsers.push(parser);
        f.busy += busy;
        let (out, lines, events, own_invalid) = r.map_err(Stop::Fail)?;
        f.invalid += own_invalid;
        f.events_in += lines;
        self.send_batch(f, trace, Outbound::Encoded(out), events).await
    }

    /// Sends a batch on under a send credit, then acknowledges it upstream.
    async fn send_batch(&mut self, f: &mut Figures, trace: u64, out: Outbound, events: u64) -> Result<(), Stop> {
        let t1 = Instant::now();
        tokio::select! {
            biased;
            ev = self.ev_rx.recv() => return Err(down_failure(self.cfg, ev)),
            _ = self.tx.closed() => return Err(Stop::Cancelled),
            p = self.credits.acquire() => p.expect("credit semaphore is never closed").forget(),
        }
        f.wait += t1.elapsed();
        self.inflight.lock().unwrap().push_back((trace, Instant::now(), events));
        send_down(self.cfg, self.dtx, self.ev_rx, self.tx, out).await?;
        f.batches_out += 1;
        f.events_out += events;
        let ack = StageResponse { kind: Some(stage_response::Kind::Ack(trace)) };
        send_up(self.cfg, self.ev_rx, self.tx, ack).await
    }
}

async fn run(
    cfg: &Config,
    header: RunHeader,
    mut inbound: Streaming<StageRequest>,
    tx: &Upstream,
    first_wait: Duration,
    alive: mpsc::Sender<()>,
) -> Result<Figures, Stop> {
    let name = cfg.name.as_str();
    let cpu0 = metrics::cpu_seconds();
    let mut f = Figures {
        busy: Duration::ZERO,
        wait: first_wait,
        batches_in: 0,
        batches_out: 0,
        events_in: 0,
        events_out: 0,
        invalid: 0,
    };
    let passthrough = header.passthrough;
    let run_id = header.run_id.clone();

    // Find and open the downstream: looked up for every run (and so every attempt), so a
    // restarted downstream is found at its new address; nothing is cached across runs.
    let address = match &cfg.downstream_address {
        Some(a) => a.clone(),
        None => lookup(cfg, tx).await?,
    };
    let mut fields =
        vec![("downstream", json!(format!("{}@{address}", cfg.downstream))), ("attempt", json!(header.attempt))];
    if !header.checkpoint_dir.is_empty() {
        fields.push(("checkpointDir", json!(header.checkpoint_dir)));
        fields.push(("resumeCheckpoint", json!(header.resume_checkpoint)));
    }
    let resume = match header.resume_checkpoint {
        0 => String::new(),
        n => format!(", from checkpoint {n}"),
    };
    log::line(
        "info",
        name,
        &run_id,
        &format!(
            "run started (attempt {}{resume}){}",
            header.attempt,
            if passthrough { " (pass-through)" } else { "" }
        ),
        &fields,
    );
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| Stop::Fail(Status::invalid_argument(format!("{name}: bad downstream address {address:?}: {e}"))))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW));
    let channel = tokio::select! {
        c = endpoint.connect() => c.map_err(|e| Stop::Fail(Status::unavailable(format!(
            "{name}: {} failed: cannot connect to {address}: {e}", cfg.downstream))))?,
        _ = tx.closed() => return Err(Stop::Cancelled),
    };
    let (dtx, drx) = mpsc::channel::<Outbound>(WINDOW + 4);
    let credits = Arc::new(Semaphore::new(WINDOW));
    let inflight: Arc<Mutex<VecDeque<(u64, Instant, u64)>>> = Arc::new(Mutex::new(VecDeque::new()));
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<DownEvent>();
    let reader = {
        let credits = credits.clone();
        let inflight = inflight.clone();
        let reporter = cfg.reporter.clone();
        let up = tx.clone();
        tokio::spawn(async move {
            let _alive = alive;
            // Opened in its own task: a downstream may send its response headers only with its
            // first reply, which needs our batches.
            let mut stream = match open_rules_process(channel, MAX_MESSAGE_BYTES, ReceiverStream::new(drx)).await {
                Ok(s) => s,
                Err(s) => {
                    let _ = ev_tx.send(DownEvent::Failed(s));
                    return;
                }
            };
            loop {
                match stream.message().await {
                    Ok(Some(StageResponse { kind: Some(stage_response::Kind::Ack(id)) })) => {
                        let mut q = inflight.lock().unwrap();
                        if q.iter().any(|e| e.0 == id) {
                            while let Some((trace, at, events)) = q.pop_front() {
                                if let Some(r) = &reporter {
                                    r.record(at.elapsed(), events, true);
                                }
                                credits.add_permits(1);
                                if trace == id {
                                    break;
                                }
                            }
                        }
                    }
                    Ok(Some(StageResponse { kind: Some(stage_response::Kind::Complete(c)) })) => {
                        let _ = ev_tx.send(DownEvent::Complete(c));
                    }
                    Ok(Some(StageResponse { kind: Some(stage_response::Kind::CheckpointDone(n)) })) => {
                        // Straight up, unchanged: ingest commits N on it.
                        let done = StageResponse { kind: Some(stage_response::Kind::CheckpointDone(n)) };
                        if up.send(Ok(done)).await.is_err() {
                            return; // the upstream is gone; the run ends through tx.closed()
                        }
                    }
                    Ok(Some(StageResponse { kind: None })) => {}
                    Ok(None) => {
                        let _ = ev_tx.send(DownEvent::Closed);
                        return;
                    }
                    Err(s) => {
                        let _ = ev_tx.send(DownEvent::Failed(s));
                        return;
                    }
                }
            }
        })
    };
    let _reader_guard = AbortOnDrop(reader.abort_handle());
    send_down(cfg, &dtx, &mut ev_rx, tx, StageRequest { kind: Some(Kind::Header(header)) }).await?;

    // Batches being worked on, oldest first, each on a thread of the blocking pool with a parser
    // of its own: the next batch's work starts while the last one's goes on, and they leave in
    // the order they came. Meanwhile this thread keeps the streams moving.
    let mut parsers: Vec<BatchParser> = (0..WORKERS).map(|_| BatchParser::new()).collect();
    let mut working: VecDeque<Working> = VecDeque::with_capacity(WORKERS);
    let mut shared = SharedFiles::default();
    macro_rules! chain {
        () => {
            Chain { cfg, credits: &credits, inflight: &inflight, dtx: &dtx, ev_rx: &mut ev_rx, tx }
        };
    }
    loop {
        let t = Instant::now();
        let msg = tokio::select! {
            biased;
            ev = ev_rx.recv() => return Err(down_failure(cfg, ev)),
            _ = tx.closed() => return Err(Stop::Cancelled),
            done = async { (&mut working.front_mut().expect("checked").task).await }, if !working.is_empty() => {
                // (waiting for our own work is not waiting on IPC)
                let w = working.pop_front().expect("checked");
                chain!().forward(&mut f, w.trace, done, &mut parsers).await?;
                continue;
            }
            m = inbound.message(), if working.len() < WORKERS => m,
        };
        f.wait += t.elapsed();
        // Whatever ends the stream, the batches before it come first (one may have failed).
        let req = match msg {
            Ok(Some(r)) => r,
            Ok(None) => {
                chain!().drain(&mut f, &mut working, &mut parsers).await?;
                return Err(Stop::Fail(Status::aborted(format!("{name}: the stream ended before End"))));
            }
            Err(s) => {
                chain!().drain(&mut f, &mut working, &mut parsers).await?;
                return Err(inbound_failure(name, s));
            }
        };
        if !matches!(req.kind, Some(Kind::Batch(_))) {
            chain!().drain(&mut f, &mut working, &mut parsers).await?;
        }
        match req.kind {
            Some(Kind::Batch(mut b)) => {
                f.batches_in += 1;
                let trace = b.meta.as_ref().map(|m| m.trace_id).unwrap_or(0);
                if let Some(Payload::Raw(raw)) = b.payload.as_mut()
                    && let Err(s) = shared.resolve(name, trace, raw, passthrough, MAX_MESSAGE_BYTES)
                {
                    chain!().drain(&mut f, &mut working, &mut parsers).await?;
                    return Err(Stop::Fail(s));
                }
                if passthrough {
                    let n = payload_items(&b);
                    f.events_in += n;
                    let out = Outbound::Msg(StageRequest { kind: Some(Kind::Batch(b)) });
                    chain!().send_batch(&mut f, trace, out, n).await?;
                } else {
                    let mut parser = parsers.pop().expect("a parser for every batch being worked on");
                    let stage = name.to_string();
                    let task = tokio::task::spawn_blocking(move || {
                        // Busy = the CPU the work took: with two batches at once on two cores
                        // shared with four other stages, a worker's wall time also counts the
                        // time it waited for a core.
                        let t0 = metrics::thread_cpu();
                        let r = process_batch_encoded(&stage, &mut parser, b);
                        (parser, r, metrics::thread_cpu().saturating_sub(t0))
                    });
                    working.push_back(Working { trace, task });
                }
            }
            Some(Kind::Barrier(b)) => {
                if let Some(crash) = &cfg.crash
                    && let Err(e) = crash.at_barrier(b.checkpoint_id)
                {
                    log::error(name, &run_id, &e);
                }
                // Every batch received before it has been sent on (this loop sends in order);
                // no credit, no ack.
                send_down(cfg, &dtx, &mut ev_rx, tx, StageRequest { kind: Some(Kind::Barrier(b)) }).await?;
            }
            Some(Kind::End(mut end)) => {
                end.stages.push(StageMetrics {
                    stage: "parse".to_string(),
                    language: "rust".to_string(),
                    busy_ns: f.busy.as_nanos() as i64,
                    wait_ns: f.wait.as_nanos() as i64,
                    batches_in: f.batches_in,
                    batches_out: f.batches_out,
                    events_in: f.events_in,
                    events_out: f.events_out,
                    cpu_seconds: metrics::cpu_seconds() - cpu0,
                    peak_rss_bytes: metrics::peak_rss_bytes(),
                    pid: std::process::id() as i32,
                });
                send_down(cfg, &dtx, &mut ev_rx, tx, StageRequest { kind: Some(Kind::End(end)) }).await?;
                drop(dtx); // nothing follows End: half-close our side of the downstream stream
                let t2 = Instant::now();
                let complete = tokio::select! {
                    ev = ev_rx.recv() => match ev {
                        Some(DownEvent::Complete(c)) => c,
                        other => return Err(down_failure(cfg, other)),
                    },
                    _ = tx.closed() => return Err(Stop::Cancelled),
                };
                f.wait += t2.elapsed();
                // Not send_up: the downstream stream may well end (Closed) right after it.
                let msg = StageResponse { kind: Some(stage_response::Kind::Complete(complete)) };
                if tx.send(Ok(msg)).await.is_err() {
                    return Err(Stop::Cancelled);
                }
                // Let the downstream stream end cleanly (its trailers) rather than cancel it.
                let _ = tokio::time::timeout(Duration::from_secs(2), ev_rx.recv()).await;
                return Ok(f);
            }
            Some(Kind::Header(_)) => return Err(invalid(format!("{name}: a second RunHeader in one run"))),
            Some(Kind::ResultPart(_)) => {
                return Err(invalid(format!(
                    "{name}: unexpected ResultPart (only the aggregate → sink stream carries them)"
                )));
            }
            None => return Err(invalid(format!("{name}: empty StageRequest"))),
        }
    }
}

/// A failed read of the inbound stream. A cancelled stream just ends the run; anything else
/// (an undecodable or oversized message) fails it with a status naming this stage. tonic reports
/// a message over the size limit as OUT_OF_RANGE; the other stages' libraries say
/// RESOURCE_EXHAUSTED, so that is what parse answers too.
fn inbound_failure(name: &str, s: Status) -> Stop {
    match s.code() {
        tonic::Code::Cancelled => Stop::Cancelled,
        tonic::Code::OutOfRange if s.message().contains("too large") => {
            Stop::Fail(Status::resource_exhausted(format!("{name}: inbound {}", s.message())))
        }
        code => Stop::Fail(Status::new(code, format!("{name}: inbound stream failed: {}", s.message()))),
    }
}
