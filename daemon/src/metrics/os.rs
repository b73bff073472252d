//! What the metrics read from the OS: the WireGuard interface's counters from sysfs and this
//! process's figures from procfs. Everything else comes from the resource store.

/// Clock ticks per second in `/proc/<pid>/stat` times: `USER_HZ`, fixed at 100 in the kernel's
/// user-space ABI on every architecture weftd builds for (whatever the kernel's own HZ).
const USER_HZ: f64 = 100.0;
/// Page size for `/proc/self/statm`; 4 KiB on x86-64 and on arm64 as Debian builds it.
const PAGE_SIZE: u64 = 4096;

/// An interface's packet counters (`/sys/class/net/<name>/statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// This process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
}

/// The counters of interface `name` from `/proc/self/net/dev`; `None` when it does not exist
/// (before the first peer config, or after shutdown). procfs, not sysfs: `/sys/class/net` shows
/// the namespace of whoever mounted `/sys`, `/proc/self/net` always this process's.
pub fn interface_counters(name: &str) -> Option<InterfaceCounters> {
    parse_net_dev(&std::fs::read_to_string("/proc/self/net/dev").ok()?, name)
}

/// The line of `name` in a `/proc/net/dev` table: `name: rx_bytes rx_packets rx_errs rx_drop
/// fifo frame compressed multicast tx_bytes tx_packets tx_errs tx_drop …`.
fn parse_net_dev(table: &str, name: &str) -> Option<InterfaceCounters> {
    let line = table.lines().find_map(|l| {
        let (iface, rest) = l.split_once(':')?;
        (iface.trim() == name).then_some(rest)
    })?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some(InterfaceCounters {
        rx_bytes: *f.first()?,
        rx_packets: *f.get(1)?,
        rx_dropped: *f.get(3)?,
        tx_bytes: *f.get(8)?,
        tx_packets: *f.get(9)?,
        tx_dropped: *f.get(11)?,
    })
}

/// Figures from `/proc/self`; a figure that cannot be read is 0.
pub fn process_figures() -> ProcessFigures {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let (cpu_seconds, threads) = parse_stat(&stat).unwrap_or_default();
    let resident_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let max_fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    ProcessFigures {
        resident_bytes: resident_pages * PAGE_SIZE,
        open_fds,
        max_fds,
        cpu_seconds,
        threads,
    }
}

/// CPU seconds (utime + stime) and threads from `/proc/<pid>/stat`. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<(f64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15, num_threads 20.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let threads: u64 = fields.get(17)?.parse().ok()?;
    Some(((utime + stime) as f64 / USER_HZ, threads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let stat =
            "1234 (weft (d) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 100 0 0";
        assert_eq!(parse_stat(stat), Some((3.0, 7)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn net_dev_columns() {
        let table = "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\nkubespan: 5000 40 1 3 0 0 0 0 7000 50 0 4 0 0 0 0\n";
        assert_eq!(
            parse_net_dev(table, "kubespan"),
            Some(InterfaceCounters {
                rx_bytes: 5000,
                rx_packets: 40,
                rx_dropped: 3,
                tx_bytes: 7000,
                tx_packets: 50,
                tx_dropped: 4,
            })
        );
        assert_eq!(parse_net_dev(table, "kube"), None);
    }

    #[test]
    fn this_process_is_measured() {
        let p = process_figures();
        assert!(
            p.resident_bytes > 0 && p.open_fds > 0 && p.threads > 0,
            "{p:?}"
        );
        assert!(interface_counters("lo").is_some());
        assert_eq!(interface_counters("no-such-interface"), None);
    }
}
