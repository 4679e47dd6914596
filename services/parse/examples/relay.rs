//! A stand-in for the stages after parse, for interop runs before rules/aggregate exist: serves
//! RulesService and relays each run to a SinkService. Unless the run is pass-through it folds
//! the events into byType/byUser/byWindow (no drop or tag rules, 60 s windows) and drops the
//! payload, as aggregate does, and sends the groups before End, in columns, in one ResultPart
//! (aggregate splits them into parts of at most 10,000 groups); replies flow back unchanged. So
//! the sink's results.json and dead-letters.ndjson can be compared with the oracle.
//!   cargo run --release --example relay -- LISTEN_PORT SINK_ADDR
use parse::pb::batch::Payload;
use parse::pb::rules_service_server::{RulesService, RulesServiceServer};
use parse::pb::sink_service_client::SinkServiceClient;
use parse::pb::stage_request::Kind;
use parse::pb::{GroupColumns, ResultPart, StageRequest, StageResponse, WindowColumns};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

struct Relay {
    sink: String,
}

#[tonic::async_trait]
impl RulesService for Relay {
    type ProcessStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<StageResponse, Status>> + Send>>;
    async fn process(&self, req: Request<Streaming<StageRequest>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = req.into_inner();
        let mut client = SinkServiceClient::connect(format!("http://{}", self.sink))
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut passthrough = false;
            let mut types: HashMap<Vec<u8>, Stats> = HashMap::new();
            let mut users: HashMap<Vec<u8>, Stats> = HashMap::new();
            let mut windows: HashMap<(i64, Vec<u8>), (i64, i64)> = HashMap::new();
            let fold = |m: &mut HashMap<Vec<u8>, Stats>, k: &[u8], v: i64| {
                let g = m.entry(k.to_vec()).or_insert((0, 0, v, v));
                g.0 += 1;
                g.1 += v;
                g.2 = g.2.min(v);
                g.3 = g.3.max(v);
            };
            while let Ok(Some(mut m)) = inbound.message().await {
                match &mut m.kind {
                    Some(Kind::Header(h)) => passthrough = h.passthrough,
                    Some(Kind::Batch(b)) if !passthrough => {
                        let Some(Payload::Events(e)) = b.payload.take() else { panic!("no events payload") };
                        for i in 0..e.count as usize {
                            let ts = i64::from_le_bytes(e.ts_seconds[i * 8..i * 8 + 8].try_into().unwrap());
                            let v = i32::from_le_bytes(e.value[i * 4..i * 4 + 4].try_into().unwrap()) as i64;
                            let t = &e.type_dict
                                [u32::from_le_bytes(e.type_index[i * 4..i * 4 + 4].try_into().unwrap()) as usize];
                            let u = &e.user_dict
                                [u32::from_le_bytes(e.user_index[i * 4..i * 4 + 4].try_into().unwrap()) as usize];
                            fold(&mut types, t, v);
                            fold(&mut users, u, v);
                            let w = windows.entry((ts.div_euclid(60) * 60, t.to_vec())).or_insert((0, 0));
                            w.0 += 1;
                            w.1 += v;
                        }
                    }
                    Some(Kind::End(_)) if !passthrough => {
                        let part = ResultPart {
                            types: group_columns(&types),
                            users: group_columns(&users),
                            windows: window_columns(&windows),
                            ..Default::default()
                        };
                        if tx.send(StageRequest { kind: Some(Kind::ResultPart(part)) }).await.is_err() {
                            return;
                        }
                    }
                    _ => {}
                }
                if tx.send(m).await.is_err() {
                    return;
                }
            }
        });
        let out = client.process(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Response::new(Box::pin(out.map(|r| r))))
    }
}

/// count, sum, min, max of one group.
type Stats = (i64, i64, i64, i64);

/// One family's groups in columns, in the order ResultPart requires (by key bytes); None
/// without groups.
fn group_columns(m: &HashMap<Vec<u8>, Stats>) -> Option<GroupColumns> {
    if m.is_empty() {
        return None;
    }
    let mut groups: Vec<_> = m.iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let n = groups.len();
    let mut keys = Vec::with_capacity(groups.iter().map(|(k, _)| k.len()).sum());
    let mut key_end = Vec::with_capacity(4 * n);
    let mut figures = [(); 4].map(|_| Vec::with_capacity(8 * n));
    for (k, g) in groups {
        keys.extend_from_slice(k);
        key_end.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for (col, v) in figures.iter_mut().zip([g.0, g.1, g.2, g.3]) {
            col.extend_from_slice(&v.to_le_bytes());
        }
    }
    let [count, sum, min, max] = figures;
    Some(GroupColumns {
        size: n as u32,
        keys: keys.into(),
        key_end: key_end.into(),
        count: count.into(),
        sum: sum.into(),
        min: min.into(),
        max: max.into(),
    })
}

/// The windows in columns, by start, then type bytes, each type once in type_dict; None
/// without windows.
fn window_columns(m: &HashMap<(i64, Vec<u8>), (i64, i64)>) -> Option<WindowColumns> {
    if m.is_empty() {
        return None;
    }
    let mut windows: Vec<_> = m.iter().collect();
    windows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let n = windows.len();
    let mut c = WindowColumns { size: n as u32, ..Default::default() };
    let (mut start, mut type_index, mut count, mut sum) =
        (Vec::with_capacity(8 * n), Vec::with_capacity(4 * n), Vec::with_capacity(8 * n), Vec::with_capacity(8 * n));
    let mut index: HashMap<&[u8], u32> = HashMap::new();
    for ((s, t), w) in windows {
        let i = *index.entry(t).or_insert_with(|| {
            c.type_dict.push(t.clone().into());
            c.type_dict.len() as u32 - 1
        });
        start.extend_from_slice(&s.to_le_bytes());
        type_index.extend_from_slice(&i.to_le_bytes());
        count.extend_from_slice(&w.0.to_le_bytes());
        sum.extend_from_slice(&w.1.to_le_bytes());
    }
    (c.start, c.type_index, c.count, c.sum) = (start.into(), type_index.into(), count.into(), sum.into());
    Some(c)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args[1].parse::<u16>().unwrap())).await.unwrap();
    let relay = Relay { sink: args[2].clone() };
    tonic::transport::Server::builder()
        .add_service(RulesServiceServer::new(relay).max_decoding_message_size(64 << 20))
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await
        .unwrap();
}
