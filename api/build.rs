//! Compiles the node API protos (weft.resource, weft.machine) and the discovery API protos
//! (sidero.discovery.server, sidero.discovery.client) with a vendored protoc, so a fresh
//! machine needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let well_known = protoc_bin_vendored::include_path()?;
    let protos = [
        "proto/weft/resource/v1alpha1/resource.proto",
        "proto/weft/machine/v1alpha1/machine.proto",
        "proto/sidero/discovery/server/cluster.proto",
        "proto/sidero/discovery/client/affiliate.proto",
    ]
    .map(std::path::PathBuf::from);
    tonic_prost_build::configure().compile_with_config(
        config,
        &protos,
        &[std::path::PathBuf::from("proto"), well_known],
    )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
