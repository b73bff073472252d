//! `weftctl get <type> [id]`: resolve the type against the node's definitions (id, plural, singular
//! or alias, case-insensitive), query every target node concurrently, and print with the chosen
//! writer. A node that fails is reported with its name while the others still print; the exit code
//! is then 1. With `-w`, every node's watch is merged and events are printed as they arrive.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use tonic::transport::Channel;
use weft_api::proto::resource::resource_service_client::ResourceServiceClient;
use weft_api::proto::resource::{
    DefinitionsRequest, EventType, GetRequest, ListRequest, WatchRequest,
};
use weft_api::proto::{definition_from_proto, event_from_proto, resource_from_proto};
use weft_api::resource::{Resource, ResourceDefinition};

use crate::args::{GetArgs, GlobalArgs};
use crate::client::{self, Target};
use crate::output;

/// The suffix of Talos's full type names (`KubeSpanPeerStatuses.kubespan.talos.dev`), read as
/// Weft's own so talosctl scripts carry over.
const TALOS_SUFFIX: &str = ".talos.dev";
const WEFT_SUFFIX: &str = ".weft.dev";

/// Resolves `name` among `definitions`, as talosctl does; a Talos full type name resolves to
/// Weft's type of the same name.
pub fn resolve<'a>(
    name: &str,
    definitions: &'a [ResourceDefinition],
) -> anyhow::Result<&'a ResourceDefinition> {
    let lower = name.to_lowercase();
    let name = match lower.strip_suffix(TALOS_SUFFIX) {
        Some(stem) => format!("{stem}{WEFT_SUFFIX}"),
        None => name.to_owned(),
    };
    let name = name.as_str();
    let matches: Vec<&ResourceDefinition> =
        definitions.iter().filter(|d| d.matches(name)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let lower = name.to_lowercase();
            let nearest = definitions
                .iter()
                .flat_map(|d| d.aliases.iter().cloned().chain(std::iter::once(d.id())))
                .map(|a| (strsim::levenshtein(&lower, &a), a))
                .filter(|(dist, a)| *dist <= (a.len() / 3).max(2))
                .min();
            match nearest {
                Some((_, alias)) => bail!(
                    "resource {name:?} is not registered, did you mean {alias:?}? (`weftctl get rd` lists the types)"
                ),
                None => {
                    bail!("resource {name:?} is not registered (`weftctl get rd` lists the types)")
                }
            }
        }
        many => bail!(
            "resource type {name:?} is ambiguous: [{}]",
            many.iter()
                .map(|d| d.resource_type.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", client::describe_status(&status))
}

async fn definitions(channel: Channel) -> anyhow::Result<Vec<ResourceDefinition>> {
    let reply = ResourceServiceClient::new(channel)
        .definitions(DefinitionsRequest {})
        .await
        .map_err(status_error)?;
    Ok(reply
        .into_inner()
        .definitions
        .into_iter()
        .map(definition_from_proto)
        .collect())
}

async fn fetch(
    channel: Channel,
    definition: &ResourceDefinition,
    namespace: &str,
    id: Option<&str>,
) -> anyhow::Result<Vec<Resource>> {
    let mut client = ResourceServiceClient::new(channel);
    let wire = match id {
        Some(id) => client
            .get(GetRequest {
                namespace: namespace.to_owned(),
                r#type: definition.resource_type.clone(),
                id: id.to_owned(),
            })
            .await
            .map_err(status_error)?
            .into_inner()
            .resource
            .into_iter()
            .collect(),
        None => {
            client
                .list(ListRequest {
                    namespace: namespace.to_owned(),
                    r#type: definition.resource_type.clone(),
                })
                .await
                .map_err(status_error)?
                .into_inner()
                .resources
        }
    };
    wire.into_iter()
        .map(|r| resource_from_proto(r).map_err(anyhow::Error::from))
        .collect()
}

pub async fn run(global: &GlobalArgs, args: &GetArgs) -> anyhow::Result<()> {
    if args.insecure {
        bail!(
            "-i/--insecure is talosctl's maintenance mode; weftd has none: every call is authenticated with the context's client certificate (drop -i)"
        );
    }
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let channels: Vec<(Target, Channel)> = targets
        .iter()
        .map(|t| Ok((t.clone(), client::channel(t, &ctx, global.timeout)?)))
        .collect::<anyhow::Result<_>>()?;
    // Check the format before touching the network.
    output::Writer::new(&args.output, Vec::new())?;

    // The type is resolved with the definitions of the first node that answers.
    let mut defs = None;
    let mut failures: Vec<(String, anyhow::Error)> = Vec::new();
    for (target, channel) in &channels {
        match definitions(channel.clone()).await {
            Ok(d) => {
                defs = Some(d);
                break;
            }
            Err(e) => failures.push((target.name.clone(), e)),
        }
    }
    let Some(defs) = defs else {
        for (node, err) in &failures {
            eprintln!("error: {node}: {err:#}");
        }
        bail!("no node answered ({} tried)", failures.len());
    };
    let definition = resolve(&args.resource_type, &defs)?.clone();
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| definition.default_namespace.clone());

    let stdout = std::io::stdout();
    let mut writer = output::Writer::new(&args.output, stdout.lock())?;
    writer.write_header(&definition, args.watch)?;

    if args.watch {
        return watch(
            &channels,
            &definition,
            &namespace,
            args.id.as_deref(),
            writer,
        )
        .await;
    }

    let results =
        futures::future::join_all(channels.iter().map(|(_, channel)| {
            fetch(channel.clone(), &definition, &namespace, args.id.as_deref())
        }))
        .await;
    let mut failed = Vec::new();
    for ((target, _), result) in channels.iter().zip(results) {
        match result {
            Ok(resources) => {
                for r in &resources {
                    writer.write_resource(&target.name, r, None)?;
                }
            }
            Err(err) => failed.push((target.name.clone(), err)),
        }
    }
    writer.flush()?;
    report_failures(failed, channels.len())
}

/// The ids of `resource_type` on the first target node (for shell completion).
pub async fn ids(global: &GlobalArgs, resource_type: &str) -> anyhow::Result<Vec<String>> {
    let (_, ctx) = client::selected_context(global)?;
    let target = client::targets(global, &ctx)?.remove(0);
    let channel = client::channel(&target, &ctx, global.timeout)?;
    let defs = definitions(channel.clone()).await?;
    let definition = resolve(resource_type, &defs)?;
    let resources = fetch(channel, definition, &definition.default_namespace, None).await?;
    Ok(resources.into_iter().map(|r| r.metadata.id).collect())
}

fn report_failures(failed: Vec<(String, anyhow::Error)>, total: usize) -> anyhow::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    let n = failed.len();
    for (node, err) in failed {
        eprintln!("error: {node}: {err:#}");
    }
    client::fail_if_any(n, total)
}

async fn watch<W: std::io::Write>(
    channels: &[(Target, Channel)],
    definition: &ResourceDefinition,
    namespace: &str,
    id: Option<&str>,
    mut writer: output::Writer<W>,
) -> anyhow::Result<()> {
    let mut streams = Vec::new();
    let mut failed = Vec::new();
    for (target, channel) in channels {
        let request = WatchRequest {
            namespace: namespace.to_owned(),
            r#type: definition.resource_type.clone(),
            id: id.map(str::to_owned),
        };
        match ResourceServiceClient::new(channel.clone())
            .watch(request)
            .await
        {
            Ok(stream) => {
                let node = target.name.clone();
                streams.push(
                    stream
                        .into_inner()
                        .map(move |item| (node.clone(), item))
                        .boxed(),
                );
            }
            Err(status) => failed.push((target.name.clone(), status_error(status))),
        }
    }
    for (node, err) in &failed {
        eprintln!("error: {node}: {err:#}");
    }
    let mut merged = futures::stream::select_all(streams);
    // As talosctl: a node's initial set is printed as one aligned block when its watch reports
    // it is up to date; after that every event is printed as it comes.
    let mut bootstrapped = std::collections::HashSet::new();
    while let Some((node, item)) = merged.next().await {
        match item {
            Ok(message) => {
                if message.event == EventType::Bootstrapped as i32 {
                    bootstrapped.insert(node);
                    writer.flush()?;
                    continue;
                }
                let Some(kind) = event_from_proto(message.event) else {
                    continue;
                };
                let Some(resource) = message.resource else {
                    continue;
                };
                let resource = resource_from_proto(resource).context("decoding a watch event")?;
                writer.write_resource(&node, &resource, Some(kind))?;
                if bootstrapped.contains(&node) {
                    writer.flush()?;
                }
            }
            Err(status) => {
                eprintln!("error: {node}: {}", client::describe_status(&status));
                failed.push((node, status_error(status)));
            }
        }
    }
    writer.flush()?;
    let _ = std::io::stdout().flush();
    client::fail_if_any(failed.len(), channels.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<ResourceDefinition> {
        weft_api::resources::definitions()
    }

    #[test]
    fn resolves_like_talosctl() {
        let defs = defs();
        for name in [
            "kubespanpeerstatuses",
            "KubeSpanPeerStatus",
            "kubespanpeerstatuses.kubespan.weft.dev",
            "KubeSpanPeerStatuses.kubespan.talos.dev",
            "kubespanpeerstatuses.kubespan.talos.dev",
        ] {
            assert_eq!(
                resolve(name, &defs).expect(name).display_type,
                "KubeSpanPeerStatus"
            );
        }
        assert_eq!(
            resolve("ksi", &defs).expect("ksi").display_type,
            "KubeSpanIdentity"
        );
        for (talos, weft) in [
            ("KubeSpanIdentities.kubespan.talos.dev", "KubeSpanIdentity"),
            ("KubeSpanPeerSpecs.kubespan.talos.dev", "KubeSpanPeerSpec"),
            ("KubeSpanEndpoints.kubespan.talos.dev", "KubeSpanEndpoint"),
            ("Affiliates.cluster.talos.dev", "Affiliate"),
            ("Members.cluster.talos.dev", "Member"),
        ] {
            assert_eq!(resolve(talos, &defs).expect(talos).display_type, weft);
        }
        assert_eq!(
            resolve("rd", &defs).expect("rd").resource_type,
            "ResourceDefinitions.meta.weft.dev"
        );
        let err = resolve("ksps", &defs).expect_err("ambiguous").to_string();
        assert_eq!(
            err,
            "resource type \"ksps\" is ambiguous: [KubeSpanPeerSpecs.kubespan.weft.dev KubeSpanPeerStatuses.kubespan.weft.dev]"
        );
        let err = resolve("kubespanpeerstatuss", &defs)
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("did you mean \"kubespanpeerstatus\"?"),
            "{err}"
        );
        let err = resolve("zzzzzzzz", &defs).expect_err("unknown").to_string();
        assert_eq!(
            err,
            "resource \"zzzzzzzz\" is not registered (`weftctl get rd` lists the types)"
        );
    }
}
