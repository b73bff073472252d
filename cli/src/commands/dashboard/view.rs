//! Drawing the [`Model`] (pure: a frame in, cells out; tested on ratatui's `TestBackend`).
//!
//! ```text
//! Weft dashboard · 2 nodes · all up · 13:47:33 UTC, every 3s · q quits
//! ┌Mesh: what each row node sees of each column peer──────────────────────┐
//! │FROM \ TO   10.5.0.2      10.5.0.3                                      │
//! │10.5.0.2    ·             up 12s                                        │
//! │10.5.0.3    up 12s        ·                                             │
//! └────────────────────────────────────────────────────────────────────────┘
//! ┌Peers───────────────────────────────────────────────────────────────────┐
//! │NODE      PEER      LABEL  STATE HANDSHAKE ENDPOINT  RX/s  TX/s  RX  TX │
//! └────────────────────────────────────────────────────────────────────────┘
//! ┌Discovery───────────────────────────────────────────────────────────────┐
//! │NODE      SERVICE                  STATE       AFFILIATES  LAST ERROR   │
//! └────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::model::{Model, PeerRow};
use crate::commands::health::{CellState, format_age};

/// Width of the grid's first column and of each peer column.
const GRID_COLUMN_WIDTH: u16 = 18;

fn state_style(state: CellState) -> Style {
    Style::default().fg(match state {
        CellState::Up => Color::Green,
        CellState::Down => Color::Red,
        CellState::Unknown => Color::Yellow,
        CellState::None => Color::DarkGray,
    })
}

/// `1.5 KiB`, `12 B`: binary units, one decimal past bytes.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{}/s", format_bytes(r)))
}

fn handshake(age: Option<u64>) -> String {
    age.map_or_else(|| "never".to_owned(), format_age)
}

/// The title line.
fn header(m: &Model) -> Line<'static> {
    let verdict = match m.refreshed {
        None => Line::styled("waiting for the nodes…", Style::default().fg(Color::Yellow)),
        Some(_) if m.matrix.all_up => Line::styled("all up", state_style(CellState::Up)),
        Some(_) => Line::styled("NOT all up", state_style(CellState::Down)),
    };
    let when = m.refreshed.map_or_else(String::new, |t| {
        format!("{:02}:{:02}:{:02} UTC, ", t.hour(), t.minute(), t.second())
    });
    let mut spans = vec![
        format!("Weft dashboard · {} nodes · ", m.nodes).into(),
        verdict.spans[0].clone(),
    ];
    spans.push(
        format!(
            " · {when}every {} · q quits",
            crate::client::format_duration(m.interval)
        )
        .into(),
    );
    Line::from(spans)
}

/// The node × node grid.
fn grid(m: &Model) -> Table<'static> {
    let mx = &m.matrix;
    let mut head = vec![Cell::from("FROM \\ TO")];
    head.extend(mx.peers.iter().map(|p| {
        let title = match &p.node {
            Some(node) => node.clone(),
            None if !p.label.is_empty() => p.label.clone(),
            None => crate::commands::health::short_key(&p.public_key),
        };
        Cell::from(title)
    }));
    let rows = mx.nodes.iter().map(|n| {
        let mut cells = vec![Cell::from(n.node.clone())];
        for p in &mx.peers {
            let cell = if n.public_key.as_deref() == Some(p.public_key.as_str()) {
                Cell::from("·")
            } else if n.error.is_some() {
                Cell::from("?").style(Style::default().fg(Color::Red))
            } else if let Some(c) = mx.cell(&n.node, &p.id) {
                let mut text = String::new();
                if c.asymmetric {
                    text.push_str("! ");
                }
                text.push_str(c.state.as_str());
                if let Some(age) = c.handshake_age_seconds {
                    text.push(' ');
                    text.push_str(&format_age(age));
                }
                let mut style = state_style(c.state);
                if c.asymmetric {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                Cell::from(text).style(style)
            } else {
                Cell::from("")
            };
            cells.push(cell);
        }
        Row::new(cells)
    });
    let widths = vec![Constraint::Length(GRID_COLUMN_WIDTH); mx.peers.len() + 1];
    Table::new(rows, widths)
        .header(Row::new(head).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title("Mesh: what each row node sees of each column peer"))
}

fn peer_row(p: &PeerRow) -> Row<'static> {
    Row::new(vec![
        Cell::from(p.node.clone()),
        Cell::from(p.peer.clone()),
        Cell::from(p.label.clone()),
        Cell::from(p.state.as_str()).style(state_style(p.state)),
        Cell::from(handshake(p.handshake_age)),
        Cell::from(p.endpoint.clone().unwrap_or_else(|| "–".to_owned())),
        Cell::from(rate(p.rx_rate)),
        Cell::from(rate(p.tx_rate)),
        Cell::from(format_bytes(p.rx_total as f64)),
        Cell::from(format_bytes(p.tx_total as f64)),
    ])
}

/// The peer table's columns: title and width.
const PEER_COLUMNS: [(&str, Constraint); 10] = [
    ("NODE", Constraint::Length(16)),
    ("PEER", Constraint::Length(16)),
    ("LABEL", Constraint::Length(24)),
    ("STATE", Constraint::Length(8)),
    ("HANDSHAKE", Constraint::Length(10)),
    ("ENDPOINT", Constraint::Length(22)),
    ("RX/s", Constraint::Length(12)),
    ("TX/s", Constraint::Length(12)),
    ("RX", Constraint::Length(10)),
    ("TX", Constraint::Length(10)),
];

/// The discovery table's columns: title and width.
const DISCOVERY_COLUMNS: [(&str, Constraint); 5] = [
    ("NODE", Constraint::Length(16)),
    ("SERVICE", Constraint::Length(30)),
    ("STATE", Constraint::Length(13)),
    ("AFFILIATES", Constraint::Length(11)),
    ("LAST ERROR", Constraint::Fill(1)),
];

/// A bordered table titled `title` with a bold header row of `columns`.
fn titled_table<'a>(
    title: &'static str,
    columns: &[(&'static str, Constraint)],
    rows: impl IntoIterator<Item = Row<'a>>,
) -> Table<'a> {
    Table::new(rows, columns.iter().map(|(_, width)| *width))
        .header(
            Row::new(columns.iter().map(|(name, _)| *name))
                .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(title))
}

fn peers(m: &Model) -> Table<'static> {
    titled_table("Peers", &PEER_COLUMNS, m.peers.iter().map(peer_row))
}

fn discovery(m: &Model) -> Table<'static> {
    let rows = m.discovery.iter().map(|d| match &d.status {
        Ok(s) => Row::new(vec![
            Cell::from(d.node.clone()),
            Cell::from(d.service.clone()),
            if s.connected {
                Cell::from("connected").style(state_style(CellState::Up))
            } else {
                Cell::from("disconnected").style(state_style(CellState::Down))
            },
            Cell::from(s.affiliates.to_string()),
            Cell::from(s.last_error.clone()),
        ]),
        Err(e) => Row::new(vec![
            Cell::from(d.node.clone()),
            Cell::from("?"),
            Cell::from("unreadable").style(state_style(CellState::Unknown)),
            Cell::from(""),
            Cell::from(e.clone()),
        ]),
    });
    titled_table("Discovery", &DISCOVERY_COLUMNS, rows)
}

/// Nodes whose API did not answer, one line each.
fn errors(m: &Model) -> Paragraph<'static> {
    let lines: Vec<Line> = m
        .matrix
        .nodes
        .iter()
        .filter_map(|n| {
            let e = n.error.as_ref()?;
            Some(Line::styled(
                format!("? {}: {e}", n.node),
                Style::default().fg(Color::Red),
            ))
        })
        .collect();
    Paragraph::new(lines)
}

/// Height of a bordered table of `rows` rows plus its header.
fn table_height(rows: usize) -> u16 {
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3)
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, m: &Model) {
    let failed = m.matrix.nodes.iter().filter(|n| n.error.is_some()).count();
    let [top, mesh, peer_area, disco, err]: [Rect; 5] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height(m.matrix.nodes.len())),
        Constraint::Length(table_height(m.peers.len())),
        Constraint::Length(table_height(m.discovery.len())),
        Constraint::Length(u16::try_from(failed).unwrap_or(u16::MAX)),
    ])
    .areas(frame.area());
    frame.render_widget(header(m), top);
    frame.render_widget(grid(m), mesh);
    frame.render_widget(peers(m), peer_area);
    frame.render_widget(discovery(m), disco);
    frame.render_widget(errors(m), err);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use time::OffsetDateTime;

    use super::*;
    use crate::commands::dashboard::model::{self, tests::snapshots};

    /// The screen as text lines, trailing blanks trimmed.
    fn draw(m: &Model, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|f| render(f, m)).expect("draw");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).expect("time")
    }

    #[test]
    fn bytes() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0 B"),
            (1023.0, "1023 B"),
            (1024.0, "1.0 KiB"),
            (1536.0, "1.5 KiB"),
            (5.0 * 1024.0 * 1024.0, "5.0 MiB"),
            (3.0 * 1024f64.powi(4), "3.0 TiB"),
        ];
        for (n, want) in cases {
            assert_eq!(format_bytes(*n), *want, "{n}");
        }
    }

    #[test]
    fn the_screen_shows_grid_rates_and_discovery() {
        let interval = Duration::from_secs(2);
        let (_, first) = model::build(&snapshots(1000, 500), None, at(1000), 0.0, interval);
        let (m, _) = model::build(&snapshots(3048, 500), Some(&first), at(1002), 2.0, interval);
        let lines = draw(&m, 150, 22);
        let text = lines.join("\n");
        assert_eq!(
            lines[0], "Weft dashboard · 2 nodes · NOT all up · 00:16:42 UTC, every 2s · q quits",
            "{text}"
        );
        // The grid: a row per node, the diagonal dotted, each cell the state and handshake age.
        let row = |node: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("│{node}")))
                .unwrap_or_else(|| panic!("{node} in\n{text}"))
                .clone()
        };
        assert!(
            lines[2].contains("FROM \\ TO") && lines[2].contains("10.5.0.3"),
            "{text}"
        );
        let a = row("10.5.0.2");
        assert!(a.contains("·") && a.contains("up 12s"), "{a}");
        let b = row("10.5.0.3");
        assert!(b.contains("! down"), "asymmetric: {b}");
        // The peers: a's rate to b is the growth of its counter over the 2 s.
        let ab = lines
            .iter()
            .find(|l| l.contains("10.5.0.2") && l.contains("10.5.0.3:51820"))
            .unwrap_or_else(|| panic!("a's peer row in\n{text}"));
        assert!(ab.contains("1.0 KiB/s") && ab.contains("0 B/s"), "{ab}");
        assert!(ab.contains("3.0 KiB") && ab.contains("500 B"), "{ab}");
        // Discovery: a's service connected; b's unreadable with the reason.
        assert!(
            text.contains("http://10.5.0.1:3000") && text.contains("connected"),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("unreadable") && l.contains("needs os:admin")),
            "{text}"
        );
    }

    #[test]
    fn before_the_first_answer_and_with_a_node_down() {
        let waiting = Model::waiting(3, Duration::from_secs(3));
        let lines = draw(&waiting, 100, 12);
        assert_eq!(
            lines[0],
            "Weft dashboard · 3 nodes · waiting for the nodes… · every 3s · q quits"
        );
        let mut snaps = snapshots(1, 1);
        snaps[1].data = Err("connection refused".to_owned());
        let (m, _) = model::build(&snaps, None, at(1000), 0.0, Duration::from_secs(3));
        let lines = draw(&m, 120, 20);
        let text = lines.join("\n");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("│10.5.0.3") && l.contains('?')),
            "{text}"
        );
        assert!(
            lines.iter().any(|l| l == "? 10.5.0.3: connection refused"),
            "{text}"
        );
    }
}
