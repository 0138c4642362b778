//! Compiles `proto/roster/v1/*.proto` with the pure-Rust `protox` compiler (no system `protoc`)
//! and generates prost messages and tonic clients and servers into `OUT_DIR`. The descriptor set is
//! written there too, for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir("proto/roster/v1")?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    let descriptors = protox::compile(&files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("roster_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // The stored user profile is the contract's own User message as JSON (camelCase keys equal SCIM
    // attribute names), so storage needs no third copy of a 40-field struct; fields kept in their
    // own columns are skipped.
    let serde_types = [
        "roster.v1.User",
        "roster.v1.Name",
        "roster.v1.MultiValue",
        "roster.v1.Address",
        "roster.v1.Manager",
        "roster.v1.EnterpriseUser",
    ];
    let mut config = tonic_prost_build::configure();
    for path in serde_types {
        config = config.type_attribute(
            path,
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = \"camelCase\", default)]",
        );
    }
    for field in [
        "id",
        "external_id",
        "user_name",
        "active",
        "custom_attributes",
        "groups",
        "meta",
    ] {
        config = config.field_attribute(format!("roster.v1.User.{field}"), "#[serde(skip)]");
    }
    config
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
