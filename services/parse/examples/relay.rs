//! A stand-in for the stages after parse, for interop runs before rules/aggregate exist: serves
//! RulesService and relays each run to a SinkService. Unless the run is pass-through it folds
//! the events into byType/byUser/byWindow (no drop or tag rules, 60 s windows) and drops the
//! payload, as aggregate does, and sends the groups as ResultParts before End; replies flow back
//! unchanged. So the sink's results.json and dead-letters.ndjson can be compared with the oracle.
//!   cargo run --release --example relay -- LISTEN_PORT SINK_ADDR
use parse::pb::batch::Payload;
use parse::pb::rules_service_server::{RulesService, RulesServiceServer};
use parse::pb::sink_service_client::SinkServiceClient;
use parse::pb::stage_request::Kind;
use parse::pb::{Group, ResultPart, StageRequest, StageResponse, WindowGroup};
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
            let mut types: HashMap<Vec<u8>, (i64, i64, i64, i64)> = HashMap::new();
            let mut users: HashMap<Vec<u8>, (i64, i64, i64, i64)> = HashMap::new();
            let mut windows: HashMap<(i64, Vec<u8>), (i64, i64)> = HashMap::new();
            let fold = |m: &mut HashMap<Vec<u8>, (i64, i64, i64, i64)>, k: &[u8], v: i64| {
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
                        let groups = |m: &HashMap<Vec<u8>, (i64, i64, i64, i64)>| -> Vec<Group> {
                            m.iter()
                                .map(|(k, g)| Group { key: k.clone().into(), count: g.0, sum: g.1, min: g.2, max: g.3 })
                                .collect()
                        };
                        let part = ResultPart {
                            by_type: groups(&types),
                            by_user: groups(&users),
                            by_tag: vec![],
                            by_window: windows
                                .iter()
                                .map(|((s, t), w)| WindowGroup {
                                    start: *s,
                                    r#type: t.clone().into(),
                                    count: w.0,
                                    sum: w.1,
                                })
                                .collect(),
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
