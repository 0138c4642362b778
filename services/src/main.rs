//! rosterd: serves Roster's gRPC core and its HTTP side (SCIM facade, health, metrics).

use anyhow::Context as _;
use clap::Parser as _;
use roster_services::config::{Args, Config};
use roster_services::{startup, telemetry};

/// mimalloc rather than glibc's malloc: a request allocates many short-lived buffers across two
/// runtime threads and SQLite's, and glibc's arena bookkeeping (consolidation, chunk unlinking)
/// took about a tenth of rosterd's CPU under load in `perf`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(Args::parse())?;
    telemetry::init_logging(config.log_format);
    let running = startup::start(config.clone())
        .await
        .context("while starting rosterd")?;

    let http = format!("http://{}", running.http_addr);
    println!("Roster is running.");
    if let Some(grpc) = running.grpc_addr {
        println!("  gRPC:      http://{grpc}   (reflection on: grpcurl -plaintext {grpc} list)");
    }
    println!("  SCIM:      {http}/scim/v2");
    println!("  health:    {http}/healthz  {http}/readyz  {http}/metrics");
    if let Some(bootstrap) = &running.bootstrap {
        let grpc = running
            .grpc_addr
            .map(|addr| addr.to_string())
            .unwrap_or_default();
        println!();
        println!(
            "First start: created organization \"{}\" and its admin token.",
            bootstrap.organization.name
        );
        println!("This token is shown only this once; keep it somewhere safe:");
        println!();
        println!("  {}", bootstrap.secret);
        println!();
        println!("Next, try:");
        println!("  export ROSTER_TOKEN={}", bootstrap.secret);
        println!("  cargo run --bin rosterctl -- --server http://{grpc} org get");
    }
    tracing::info!(http = %running.http_addr, grpc = ?running.grpc_addr, "rosterd started");

    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler can be installed");
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
}
