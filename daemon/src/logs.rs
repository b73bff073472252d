//! weftd's recent log lines, kept in memory for `weftctl logs` (`MachineService.Logs`), as
//! talosctl's machined keeps each service's log: a tracing writer ([`LogWriter`]) hands every
//! formatted event to a bounded ring ([`LogRing`]), which followers subscribe to for new lines.
//!
//! - Bounded twice: [`MAX_LOG_LINES`] lines, each at most [`MAX_LOG_LINE_BYTES`] (cut at a character
//!   boundary, ending in [`TRUNCATED_MARK`]); a follower that reads too slowly misses lines (counted,
//!   never buffered without bound).
//! - One event is one line: control characters in it (a newline in a peer-provided hostname, an
//!   escape sequence) are escaped, so no field value can forge a line of its own.
//! - Secrets: the ring holds what the log formatter prints, and nothing weftd logs carries a secret
//!   (keys, the cluster secret and client keys print as `<redacted>` through their `Debug`); the
//!   test `secrets_stay_redacted_in_the_ring` holds that for the identity types. The API serves the
//!   ring to the os:admin role only.
//! - A push and a subscription take the same lock, so `tail + follow` sees every line exactly once.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;
use weft_api::logs::{ALL_LINES, MAX_LOG_LINE_BYTES, MAX_LOG_LINES, TRUNCATED_MARK};

/// New lines a follower may be behind before it misses some (each is an `Arc`, the text shared).
pub const FOLLOW_BUFFER_LINES: usize = 1024;

/// Lines per `LogsResponse` for the tail: with [`MAX_LOG_LINE_BYTES`], 512 KiB at most, well
/// under gRPC's default 4 MiB message limit.
pub const LINES_PER_MESSAGE: usize = 256;

/// The ring of recent lines and the channel followers listen on.
#[derive(Debug)]
pub struct LogRing {
    lines: Mutex<VecDeque<Arc<str>>>,
    new_lines: broadcast::Sender<Arc<str>>,
}

impl LogRing {
    /// An empty ring.
    pub fn new() -> Arc<LogRing> {
        Arc::new(LogRing {
            lines: Mutex::new(VecDeque::with_capacity(MAX_LOG_LINES)),
            new_lines: broadcast::channel(FOLLOW_BUFFER_LINES).0,
        })
    }

    /// Appends one formatted event (see [`one_line`]), forgetting the oldest line when full.
    pub fn push(&self, event: &str) {
        let line: Arc<str> = one_line(event).into();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == MAX_LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(Arc::clone(&line));
        // No follower is not an error.
        let _ = self.new_lines.send(line);
    }

    /// The last `tail` lines kept (`None`: all), oldest first, and — when `follow` — a receiver of
    /// every line pushed after them.
    pub fn tail(
        &self,
        tail: Option<usize>,
        follow: bool,
    ) -> (Vec<Arc<str>>, Option<broadcast::Receiver<Arc<str>>>) {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        let kept = lines.iter().skip(skip).cloned().collect();
        // Subscribed under the lock: no line between the tail and the first followed one is lost
        // or repeated.
        let rx = follow.then(|| self.new_lines.subscribe());
        (kept, rx)
    }
}

/// A request's `tail_lines` as a count: `-1` (talosctl's default) is every line kept; other
/// negative numbers and counts over [`MAX_LOG_LINES`] are refused, naming the field.
pub fn tail_count(tail_lines: i32) -> Result<Option<usize>, String> {
    if tail_lines == ALL_LINES {
        return Ok(None);
    }
    match usize::try_from(tail_lines) {
        Ok(n) if n <= MAX_LOG_LINES => Ok(Some(n)),
        Ok(n) => Err(format!(
            "tail_lines: {n} is more than the {MAX_LOG_LINES} lines weftd keeps"
        )),
        Err(_) => Err(format!(
            "tail_lines: {tail_lines} is negative; -1 means every line kept"
        )),
    }
}

/// A formatted event as one line: without its trailing newline, every control character escaped
/// (`\n`, `\t`, `\u{1b}`), cut to [`MAX_LOG_LINE_BYTES`] at a character boundary.
pub fn one_line(event: &str) -> String {
    let event = event.trim_end_matches(['\n', '\r']);
    let mut line = String::with_capacity(event.len().min(MAX_LOG_LINE_BYTES));
    let budget = MAX_LOG_LINE_BYTES - TRUNCATED_MARK.len();
    for c in event.chars() {
        let before = line.len();
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
        if line.len() > budget {
            line.truncate(before);
            line.push_str(TRUNCATED_MARK);
            break;
        }
    }
    line
}

/// The tracing writer: `fmt::layer().with_writer(LogWriter(ring))` appends every event it formats
/// to the ring. The formatter writes an event in one go; the buffer is pushed when dropped.
#[derive(Debug, Clone)]
pub struct LogWriter(pub Arc<LogRing>);

/// One event being formatted.
#[derive(Debug)]
pub struct EventBuffer {
    ring: Arc<LogRing>,
    text: Vec<u8>,
}

impl io::Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Bounded: what is over the line limit is cut anyway.
        let room = (MAX_LOG_LINE_BYTES * 4).saturating_sub(self.text.len());
        self.text.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if !self.text.is_empty() {
            self.ring.push(&String::from_utf8_lossy(&self.text));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> EventBuffer {
        EventBuffer {
            ring: Arc::clone(&self.0),
            text: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn events_become_single_bounded_lines() {
        let long = "x".repeat(MAX_LOG_LINE_BYTES * 2);
        let cut = one_line(&long);
        let cases: &[(&str, String)] = &[
            ("plain line\n", "plain line".to_owned()),
            ("no newline", "no newline".to_owned()),
            ("crlf\r\n", "crlf".to_owned()),
            (
                "label=evil\n2026-01-01 INFO forged\n",
                "label=evil\\n2026-01-01 INFO forged".to_owned(),
            ),
            ("tab\there", "tab\\there".to_owned()),
            ("\u{1b}[31mred", "\\u{1b}[31mred".to_owned()),
            ("", String::new()),
        ];
        for (input, want) in cases {
            assert_eq!(&one_line(input), want, "{input:?}");
        }
        assert!(cut.len() <= MAX_LOG_LINE_BYTES, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATED_MARK));
        // A multi-byte character at the cut is not split.
        let wide = "é".repeat(MAX_LOG_LINE_BYTES);
        let cut = one_line(&wide);
        assert!(cut.len() <= MAX_LOG_LINE_BYTES);
        assert!(cut.ends_with(TRUNCATED_MARK));
    }

    #[test]
    fn tail_counts() {
        let max = i32::try_from(MAX_LOG_LINES).expect("fits");
        let cases: &[(i32, Result<Option<usize>, &str>)] = &[
            (-1, Ok(None)),
            (0, Ok(Some(0))),
            (10, Ok(Some(10))),
            (max, Ok(Some(MAX_LOG_LINES))),
            (
                max + 1,
                Err("tail_lines: 2001 is more than the 2000 lines weftd keeps"),
            ),
            (
                -2,
                Err("tail_lines: -2 is negative; -1 means every line kept"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(tail_count(*input), want.map_err(str::to_owned), "{input}");
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_lines() {
        let ring = LogRing::new();
        for i in 0..MAX_LOG_LINES + 5 {
            ring.push(&format!("line {i}\n"));
        }
        let (all, rx) = ring.tail(None, false);
        assert!(rx.is_none());
        assert_eq!(all.len(), MAX_LOG_LINES);
        assert_eq!(&*all[0], "line 5");
        assert_eq!(
            &*all[MAX_LOG_LINES - 1],
            format!("line {}", MAX_LOG_LINES + 4)
        );
        let (last, _) = ring.tail(Some(2), false);
        assert_eq!(
            last.iter().map(|l| &**l).collect::<Vec<_>>(),
            [
                format!("line {}", MAX_LOG_LINES + 3),
                format!("line {}", MAX_LOG_LINES + 4)
            ]
        );
        let (none, _) = ring.tail(Some(0), false);
        assert!(none.is_empty());
    }

    #[test]
    fn a_follower_sees_every_later_line_once_and_counts_what_it_missed() {
        let ring = LogRing::new();
        ring.push("before");
        let (tail, rx) = ring.tail(Some(10), true);
        let mut rx = rx.expect("following");
        assert_eq!(tail.len(), 1);
        ring.push("after 1");
        ring.push("after 2");
        assert_eq!(&*rx.try_recv().expect("line"), "after 1");
        assert_eq!(&*rx.try_recv().expect("line"), "after 2");
        assert!(rx.try_recv().is_err());
        // A follower that does not read loses the oldest lines beyond its buffer, counted.
        for i in 0..FOLLOW_BUFFER_LINES + 3 {
            ring.push(&format!("burst {i}"));
        }
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(&*rx.try_recv().expect("line"), "burst 3");
    }

    /// The ring through the real formatter: what `weftctl logs` shows is what the journal shows,
    /// one event per line, and secrets print redacted.
    #[test]
    fn secrets_stay_redacted_in_the_ring() {
        use weft_api::resources::kubespan::identity::IdentityFile;
        let ring = LogRing::new();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(LogWriter(Arc::clone(&ring))),
        );
        let keys = IdentityFile::generate();
        tracing::subscriber::with_default(subscriber, || {
            // Displayed (`%`), a field is printed raw: the ring escapes the newline.
            tracing::info!(hostname = %"a\nb", "first event");
            tracing::warn!(?keys, "identity");
        });
        let (lines, _) = ring.tail(None, false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(" INFO "), "{}", lines[0]);
        assert!(
            lines[0].contains("first event hostname=a\\nb"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("<redacted>"), "{}", lines[1]);
        assert!(lines[1].contains(&keys.public_key), "{}", lines[1]);
        assert!(!lines[1].contains(&keys.private_key), "{}", lines[1]);
    }
}
