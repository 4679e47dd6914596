//! The split pipeline's parse stage (services/PIPELINE.md): validates raw NDJSON lines by
//! DESIGN.md §4.2 into event columns and dead letters, between ingest and rules.

pub mod batch;
pub mod checkfile;
pub mod codec;
pub mod control;
pub mod crash;
pub mod log;
pub mod metrics;
pub mod shared;
pub mod stage;
pub mod validate;

/// The generated pipeline.v1 messages and gRPC stubs (build.rs, from proto/pipeline/v1).
#[allow(clippy::all)]
pub mod pb {
    tonic::include_proto!("pipeline.v1");
}
