// Generates the pipeline.v1 messages and the tonic client/server stubs into OUT_DIR from the
// repository's proto, with protox (a pure-Rust protobuf compiler): no system protoc needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto";
    let proto = "../../proto/pipeline/v1/pipeline.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], [proto_dir])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // bytes fields as `bytes::Bytes`: the raw lines are sliced without copies.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
