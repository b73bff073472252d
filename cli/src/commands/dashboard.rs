//! `weftctl dashboard`: a live terminal view of the mesh, as `talosctl dashboard` is of a node —
//! the node × node state grid, per-peer rx/tx rates and handshake ages, discovery status —
//! refreshed every `--update-interval` from every target node's resources (what `weftctl health`
//! reads, fetched concurrently). `q` (or Esc, Ctrl-C) quits.
//!
//! - [`model`]: snapshots → what the screen shows (pure, table-tested);
//! - [`view`]: the model → a ratatui frame (pure, tested on ratatui's `TestBackend`);
//! - here: the terminal (raw mode and alternate screen, restored on every exit and on panic), a
//!   thread reading keys, and the loop that fetches and redraws.
//!
//! It needs a terminal: when stdout is not one it says so in one line and exits 1 before touching
//! the network.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::args::{DashboardArgs, GlobalArgs};
use crate::client;
use crate::commands::health;

pub mod model;
pub mod view;

/// Shortest `--update-interval`: every refresh asks every node for four lists.
pub const MIN_UPDATE_INTERVAL: Duration = Duration::from_millis(250);

/// How often the key thread checks whether the dashboard has ended.
const KEY_POLL: Duration = Duration::from_millis(100);

/// `--update-interval`: a duration of at least [`MIN_UPDATE_INTERVAL`].
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = client::parse_duration(s)?;
    if d < MIN_UPDATE_INTERVAL {
        return Err(format!(
            "{s} is shorter than {} (every refresh asks every node)",
            client::format_duration(MIN_UPDATE_INTERVAL)
        ));
    }
    Ok(d)
}

/// What the key thread reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Quit,
    /// The terminal changed size.
    Redraw,
}

/// The input a terminal event means, if any.
fn input_of(ev: &Event) -> Option<Input> {
    match ev {
        Event::Key(k) if k.kind == KeyEventKind::Press => match k.code {
            KeyCode::Char('q' | 'Q') | KeyCode::Esc => Some(Input::Quit),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Some(Input::Quit),
            _ => None,
        },
        Event::Resize(..) => Some(Input::Redraw),
        _ => None,
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block) until `stop` is set or
/// the receiver is gone.
fn read_keys(tx: mpsc::Sender<Input>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(KEY_POLL) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => {
                    let _ = tx.blocking_send(Input::Quit);
                    return;
                }
            }
            let input = match event::read() {
                Ok(ev) => input_of(&ev),
                Err(_) => Some(Input::Quit),
            };
            if let Some(input) = input
                && (tx.blocking_send(input).is_err() || input == Input::Quit)
            {
                return;
            }
        }
    })
}

pub async fn run(global: &GlobalArgs, args: &DashboardArgs) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "weftctl dashboard draws on a terminal, and stdout is not one (for a one-off grid: `weftctl health --matrix`)"
        );
    }
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let (tx, mut keys) = mpsc::channel(16);
    let stop = Arc::new(AtomicBool::new(false));
    // Raw mode, the alternate screen, and a panic hook that restores the terminal.
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let reader = read_keys(tx, Arc::clone(&stop));

    let start = Instant::now();
    let mut model = model::Model::waiting(targets.len(), args.update_interval);
    let mut previous: Option<model::Sample> = None;
    let fetch = |delay: Duration| {
        let (targets, ctx) = (&targets, &ctx);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            health::fetch_all(targets, ctx, global.timeout).await
        })
    };
    let mut next = fetch(Duration::ZERO);
    let result = loop {
        if let Err(e) = terminal.draw(|f| view::render(f, &model)) {
            break Err(anyhow::Error::from(e).context("drawing"));
        }
        tokio::select! {
            input = keys.recv() => match input {
                Some(Input::Redraw) => {}
                Some(Input::Quit) | None => break Ok(()),
            },
            snapshots = &mut next => {
                let (m, sample) = model::build(
                    &snapshots,
                    previous.as_ref(),
                    OffsetDateTime::now_utc(),
                    start.elapsed().as_secs_f64(),
                    args.update_interval,
                );
                model = m;
                previous = Some(sample);
                next = fetch(args.update_interval);
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyEvent, KeyEventState};

    fn key(code: KeyCode, modifiers: KeyModifiers, kind: KeyEventKind) -> Event {
        Event::Key(KeyEvent {
            code,
            modifiers,
            kind,
            state: KeyEventState::NONE,
        })
    }

    #[test]
    fn keys() {
        let none = KeyModifiers::NONE;
        let press = KeyEventKind::Press;
        let cases: &[(Event, Option<Input>)] = &[
            (key(KeyCode::Char('q'), none, press), Some(Input::Quit)),
            (key(KeyCode::Char('Q'), none, press), Some(Input::Quit)),
            (key(KeyCode::Esc, none, press), Some(Input::Quit)),
            (
                key(KeyCode::Char('c'), KeyModifiers::CONTROL, press),
                Some(Input::Quit),
            ),
            (key(KeyCode::Char('c'), none, press), None),
            (key(KeyCode::Char('q'), none, KeyEventKind::Release), None),
            (Event::Resize(80, 24), Some(Input::Redraw)),
            (Event::FocusGained, None),
        ];
        for (ev, want) in cases {
            assert_eq!(input_of(ev), *want, "{ev:?}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_interval("250ms"), Ok(MIN_UPDATE_INTERVAL));
        assert_eq!(
            parse_interval("100ms"),
            Err("100ms is shorter than 250ms (every refresh asks every node)".to_owned())
        );
        assert!(parse_interval("soon").is_err());
    }
}
