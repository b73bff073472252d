//! Compiles the snapshot format (`sidero.discovery.storage`, Sidero's on-disk state) with a
//! vendored protoc, so a fresh machine needs no system protobuf compiler. Only messages: the
//! snapshot is a file, not a service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let well_known = protoc_bin_vendored::include_path()?;
    config.compile_protos(
        &[std::path::PathBuf::from(
            "proto/sidero/discovery/storage/discovery.proto",
        )],
        &[std::path::PathBuf::from("proto"), well_known],
    )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
