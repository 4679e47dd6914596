//! The downstream stream's codec: messages go out either as a `StageRequest` that prost encodes
//! (header, barriers, End, pass-through batches) or as bytes that already are the encoding of a
//! `StageRequest` (a parsed batch, written by [`crate::batch::BatchParser::parse_encoded`]
//! straight from the input without building the `Events` message). Replies are prost-decoded
//! `StageResponse`s, as with the generated client.

use bytes::BufMut;
use prost::Message;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{GrpcMethod, Status, Streaming};
use tonic_prost::ProstDecoder;

use crate::pb::{StageRequest, StageResponse};

/// One message on the downstream stream.
pub enum Outbound {
    Msg(StageRequest),
    /// The protobuf encoding of a `StageRequest`.
    Encoded(Vec<u8>),
}

impl From<StageRequest> for Outbound {
    fn from(m: StageRequest) -> Self {
        Outbound::Msg(m)
    }
}

#[derive(Default)]
pub struct OutEncoder;

impl Encoder for OutEncoder {
    type Item = Outbound;
    type Error = Status;

    fn encode(&mut self, item: Outbound, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match item {
            Outbound::Msg(m) => m.encode(dst).expect("Message only errors if not enough space"),
            Outbound::Encoded(b) => dst.put_slice(&b),
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct OutCodec;

impl Codec for OutCodec {
    type Encode = Outbound;
    type Decode = StageResponse;
    type Encoder = OutEncoder;
    type Decoder = ProstDecoder<StageResponse>;

    fn encoder(&mut self) -> OutEncoder {
        OutEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Opens `RulesService.Process` on `channel`: what the generated `RulesServiceClient::process`
/// does, with [`OutCodec`].
pub async fn open_rules_process(
    channel: Channel,
    max_message_bytes: usize,
    outbound: impl tonic::IntoStreamingRequest<Message = Outbound>,
) -> Result<Streaming<StageResponse>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes);
    grpc.ready().await.map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
    let path = PathAndQuery::from_static("/pipeline.v1.RulesService/Process");
    let mut req = outbound.into_streaming_request();
    req.extensions_mut().insert(GrpcMethod::new("pipeline.v1.RulesService", "Process"));
    Ok(grpc.streaming(req, path, OutCodec).await?.into_inner())
}
