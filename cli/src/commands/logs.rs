//! `weftctl logs [-f] [--tail N]`: weftd's recent log lines from every target node (os:admin),
//! as talosctl prints a service's log: with several nodes, their lines are interleaved as they
//! arrive, each prefixed with its node. A node that fails is reported while the others go on;
//! the exit code is then 1. Lines a slow follower missed are counted on stderr.

use std::io::Write as _;

use futures::StreamExt as _;
use weft_api::logs::{ALL_LINES, MAX_LOG_LINES};
use weft_api::proto::machine::machine_service_client::MachineServiceClient;
use weft_api::proto::machine::{LogsRequest, LogsResponse};

use crate::args::{GlobalArgs, LogsArgs};
use crate::client::{self, Target};

/// `--tail`: -1 (every line kept) or 0..=[`MAX_LOG_LINES`], what weftd keeps.
pub fn parse_tail(s: &str) -> Result<i32, String> {
    let n: i32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of lines"))?;
    match usize::try_from(n) {
        Ok(lines) if lines <= MAX_LOG_LINES => Ok(n),
        Ok(_) => Err(format!(
            "{n} is more than the {MAX_LOG_LINES} lines weftd keeps"
        )),
        Err(_) if n == ALL_LINES => Ok(n),
        Err(_) => Err(format!("{n} is negative; -1 means every line kept")),
    }
}

/// One reply as printed: its lines, each prefixed with `node: ` when `prefix`.
pub fn render(node: &str, prefix: bool, reply: &LogsResponse) -> String {
    let mut text = String::new();
    for line in &reply.lines {
        if prefix {
            text.push_str(node);
            text.push_str(": ");
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Opens the log stream of `target`.
async fn open(
    target: &Target,
    ctx: &weft_api::config::client::Context,
    global: &GlobalArgs,
    args: &LogsArgs,
) -> anyhow::Result<tonic::Streaming<LogsResponse>> {
    let channel = client::channel(target, ctx, global.timeout)?;
    let reply = MachineServiceClient::new(channel)
        .logs(LogsRequest {
            follow: args.follow,
            tail_lines: args.tail,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))?;
    Ok(reply.into_inner())
}

pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<()> {
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let prefix = targets.len() > 1;
    let opened =
        futures::future::join_all(targets.iter().map(|t| open(t, &ctx, global, args))).await;
    let mut failed = 0;
    let mut streams = Vec::new();
    for (target, result) in targets.iter().zip(opened) {
        match result {
            Ok(stream) => {
                let node = target.name.clone();
                streams.push(stream.map(move |item| (node.clone(), item)).boxed());
            }
            Err(err) => {
                failed += 1;
                eprintln!("error: {}: {err:#}", target.name);
            }
        }
    }
    let mut merged = futures::stream::select_all(streams);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while let Some((node, item)) = merged.next().await {
        match item {
            Ok(reply) => {
                out.write_all(render(&node, prefix, &reply).as_bytes())?;
                out.flush()?;
                if reply.dropped > 0 {
                    eprintln!(
                        "warning: {node}: {} lines missed (this client read them too slowly)",
                        reply.dropped
                    );
                }
            }
            Err(status) => {
                failed += 1;
                eprintln!("error: {node}: {}", client::describe_status(&status));
            }
        }
    }
    out.flush()?;
    client::fail_if_any(failed, targets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_bounds() {
        let cases: &[(&str, Result<i32, &str>)] = &[
            ("-1", Ok(-1)),
            ("0", Ok(0)),
            ("20", Ok(20)),
            ("2000", Ok(2000)),
            ("2001", Err("2001 is more than the 2000 lines weftd keeps")),
            ("-2", Err("-2 is negative; -1 means every line kept")),
            ("x", Err("\"x\" is not a number of lines")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_tail(input), want.map_err(str::to_owned), "{input}");
        }
    }

    /// The help states the daemon's bounds in words; they must be the constants'.
    #[test]
    fn help_states_the_bounds() {
        use clap::CommandFactory as _;
        let cli = crate::args::Cli::command();
        let logs = cli.find_subcommand("logs").expect("logs");
        let about = logs.get_long_about().expect("long about").to_string();
        assert!(
            about.contains(&format!("last {MAX_LOG_LINES} log lines")),
            "{about}"
        );
        let kib = weft_api::logs::MAX_LOG_LINE_BYTES / 1024;
        assert!(about.contains(&format!("at most {kib} KiB")), "{about}");
    }

    #[test]
    fn lines_are_prefixed_with_their_node_when_there_are_several() {
        let reply = LogsResponse {
            lines: vec!["one".into(), "two".into()],
            dropped: 0,
        };
        assert_eq!(render("10.5.0.2", false, &reply), "one\ntwo\n");
        assert_eq!(
            render("10.5.0.2", true, &reply),
            "10.5.0.2: one\n10.5.0.2: two\n"
        );
        let none = LogsResponse {
            lines: Vec::new(),
            dropped: 3,
        };
        assert_eq!(render("n", true, &none), "");
    }
}
