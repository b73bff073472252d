//! The node log as the node API serves it (`MachineService.Logs`, `weftctl logs`): the bounds weftd
//! keeps it within, which weftctl checks `--tail` against before it asks.

/// Lines weftd keeps in memory (the newest; older ones are forgotten). With
/// [`MAX_LOG_LINE_BYTES`], at most 4 MiB.
pub const MAX_LOG_LINES: usize = 2000;

/// Longest line kept, in bytes; longer ones are cut (at a character boundary) and end in
/// [`TRUNCATED_MARK`].
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// What ends a line that was cut at [`MAX_LOG_LINE_BYTES`].
pub const TRUNCATED_MARK: &str = " …[truncated]";

/// `tail_lines` for every line kept (talosctl's `--tail` default).
pub const ALL_LINES: i32 = -1;
