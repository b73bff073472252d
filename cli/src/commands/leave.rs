//! `weftctl leave`: every target node deletes its affiliate from each discovery service it uses
//! and stops announcing itself (until its weftd restarts). One line per node and service; exit
//! code 1 if a node failed or a service did not confirm in time (the node keeps trying).

use std::io::Write as _;

use weft_api::proto::machine::LeaveRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;

use crate::args::GlobalArgs;
use crate::client;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let calls = targets.iter().map(|target| {
        let ctx = &ctx;
        async move {
            let channel = client::channel(target, ctx, global.timeout)?;
            let reply = MachineServiceClient::new(channel)
                .leave(LeaveRequest {})
                .await
                .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))?;
            anyhow::Ok(reply.into_inner().results)
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(results) if results.is_empty() => writeln!(
                out,
                "{}: no discovery service configured; the node no longer announces itself",
                target.name
            )?,
            Ok(results) => {
                let mut clean = true;
                for r in results {
                    if r.deleted {
                        writeln!(out, "{}: {}: left", target.name, r.endpoint)?;
                    } else {
                        clean = false;
                        eprintln!(
                            "error: {}: {}: not confirmed ({}); the node keeps trying",
                            target.name, r.endpoint, r.error
                        );
                    }
                }
                if !clean {
                    failed += 1;
                }
            }
            Err(err) => {
                failed += 1;
                eprintln!("error: {}: {err:#}", target.name);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} nodes did not leave cleanly", targets.len());
    }
    Ok(())
}
