//! Packet capture with `tcpdump` ([`Capture`]) and its output lines parsed ([`Packet`]): what the
//! tests that check the wire (NAT mappings, MSS clamping, fail-closed) assert on.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{POLL, wait_until};

/// A running `tcpdump -n -t -l` on one interface, printing to a file. It stops by itself after
/// a packet count or a time limit (`timeout -s INT`), and is killed on drop.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    out: tempfile::NamedTempFile,
    err: tempfile::NamedTempFile,
    what: String,
}

impl Capture {
    /// Starts capturing on `iface` in `ns` (`None`: the root namespace) what BPF `filter` matches
    /// (`""`: everything), for at most `max_packets` packets and `limit`, and returns once tcpdump
    /// listens. Classify by protocol in `filter` (`udp and dst port 51820`), not from the text:
    /// tcpdump's text names well-known ports' protocols (`domain`, …) instead of `UDP`.
    pub fn start(
        ns: Option<&str>,
        iface: &str,
        filter: &str,
        max_packets: usize,
        limit: Duration,
    ) -> Capture {
        let out = tempfile::NamedTempFile::new().expect("capture file");
        let err = tempfile::NamedTempFile::new().expect("capture log");
        let mut command = Command::new("timeout");
        command.args(["-s", "INT", &format!("{:.1}", limit.as_secs_f64())]);
        if let Some(ns) = ns {
            command.args(["ip", "netns", "exec", ns]);
        }
        // -s: headers (with TCP options) fit in 256 bytes; -l and --immediate-mode: a line per
        // packet as it comes, not per filled buffer block.
        command.args([
            "tcpdump",
            "-n",
            "-t",
            "-l",
            "--immediate-mode",
            "-s",
            "256",
            "-i",
            iface,
        ]);
        command.args(["-c", &max_packets.to_string()]);
        if !filter.is_empty() {
            command.arg(filter);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out.reopen().expect("capture file"))
            .stderr(err.reopen().expect("capture log"))
            .spawn()
            .expect("spawn tcpdump");
        let mut capture = Capture {
            child,
            out,
            err,
            what: format!("tcpdump -i {iface} {filter:?} in {ns:?}"),
        };
        let what = format!("{} to listen", capture.what);
        wait_until(&what, || {
            let log = fs::read_to_string(capture.err.path()).unwrap_or_default();
            if log.contains("listening on") {
                return Some(());
            }
            if let Ok(Some(status)) = capture.child.try_wait() {
                panic!("{} exited with {status}: {log}", capture.what);
            }
            None
        });
        capture
    }

    /// The packets printed so far.
    pub fn packets(&self) -> Vec<Packet> {
        fs::read_to_string(self.out.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(Packet::parse)
            .collect()
    }

    /// Waits (up to [`crate::DEADLINE`]) until a packet matching `matches` has been printed, and returns
    /// it. Wait for what must be on the wire before [`Capture::stop`]: tcpdump prints packets
    /// asynchronously and drops what it has not printed yet when stopped.
    pub fn wait_for(&self, what: &str, matches: impl Fn(&Packet) -> bool) -> Packet {
        wait_until(&format!("{what} (on {})", self.what), || {
            self.packets().into_iter().find(|p| matches(p))
        })
    }

    /// Stops tcpdump (SIGINT) unless it already ended, and returns every packet it printed.
    pub fn stop(mut self) -> Vec<Packet> {
        assert!(self.end(), "{} did not stop", self.what);
        self.packets()
    }

    /// Sends SIGINT to `timeout`, which passes it on to tcpdump, and waits up to 10 s for both to
    /// exit; then kills `timeout`. Killing `timeout` first would orphan tcpdump, still holding
    /// its namespace (and veths) alive with no time limit. Whether it exited in time.
    fn end(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return true;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.end();
    }
}

/// One line of `tcpdump -n -t`, with the addresses of IP packets picked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The whole line, e.g. `IP 10.201.100.11.51820 > 10.201.100.12.40001: UDP, length 148`.
    pub line: String,
    /// Source address, for an `IP`/`IP6` line.
    pub src: Option<std::net::IpAddr>,
    /// Source port, for protocols with ports.
    pub sport: Option<u16>,
    /// Destination address, for an `IP`/`IP6` line.
    pub dst: Option<std::net::IpAddr>,
    /// Destination port, for protocols with ports.
    pub dport: Option<u16>,
}

impl Packet {
    /// Parses one line; fields it cannot find stay `None` (ARP, link-layer lines).
    pub fn parse(line: &str) -> Packet {
        // `1.2.3.4.51820`, `fd00::1.5201`, or a bare address (ICMP).
        fn endpoint(s: &str) -> (Option<std::net::IpAddr>, Option<u16>) {
            if let Ok(ip) = s.parse() {
                return (Some(ip), None);
            }
            match s.rsplit_once('.') {
                Some((ip, port)) => match (ip.parse(), port.parse()) {
                    (Ok(ip), Ok(port)) => (Some(ip), Some(port)),
                    _ => (None, None),
                },
                None => (None, None),
            }
        }
        // Split at " > " first: a source such as `::` would end in the ": " that ends `dst`.
        let addresses = line
            .strip_prefix("IP ")
            .or_else(|| line.strip_prefix("IP6 "))
            .and_then(|rest| rest.split_once(" > "))
            .and_then(|(src, rest)| Some((src, rest.split_once(": ")?.0)));
        let ((src, sport), (dst, dport)) = match addresses {
            Some((src, dst)) => (endpoint(src), endpoint(dst)),
            None => ((None, None), (None, None)),
        };
        Packet {
            line: line.to_owned(),
            src,
            sport,
            dst,
            dport,
        }
    }

    /// Whether the packet's source address is `ip` (as text, e.g. `"10.244.1.2"`).
    pub fn is_from(&self, ip: &str) -> bool {
        self.src.is_some_and(|src| src.to_string() == ip)
    }

    /// TCP flags as tcpdump prints them (`S` for a SYN, `S.` for a SYN-ACK, `.` for an ACK).
    pub fn tcp_flags(&self) -> Option<&str> {
        let rest = self.line.split_once("Flags [")?.1;
        Some(rest.split_once(']')?.0)
    }

    /// The length tcpdump reports at the end of the line (for UDP, the payload; a GSO or GRO
    /// super-packet shows its whole length).
    pub fn length(&self) -> Option<u64> {
        self.line.rsplit_once("length ")?.1.trim().parse().ok()
    }

    /// The MSS option of a SYN or SYN-ACK.
    pub fn mss(&self) -> Option<u16> {
        let rest = self.line.split_once("options [")?.1;
        rest.split([',', ']'])
            .find_map(|option| option.strip_prefix("mss ")?.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lines_parse() {
        let udp = Packet::parse("IP 10.201.100.11.51820 > 10.201.100.12.40001: UDP, length 148");
        assert_eq!(udp.src, Some([10, 201, 100, 11].into()));
        assert_eq!((udp.sport, udp.dport), (Some(51820), Some(40001)));
        assert_eq!(udp.dst, Some([10, 201, 100, 12].into()));
        assert_eq!(udp.mss(), None);
        assert_eq!(udp.length(), Some(148));

        let syn = Packet::parse(
            "IP6 fd00::1.40000 > fd00::2.5201: Flags [S], seq 1, win 64800, \
             options [mss 1360,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
        );
        assert_eq!(syn.src, "fd00::1".parse().ok());
        assert_eq!((syn.sport, syn.dport), (Some(40000), Some(5201)));
        assert_eq!(syn.tcp_flags(), Some("S"));
        assert_eq!(syn.mss(), Some(1360));

        let icmp = Packet::parse(
            "IP 192.168.1.1 > 192.168.1.2: ICMP net 192.168.2.2 unreachable, length 92",
        );
        assert_eq!(icmp.src, Some([192, 168, 1, 1].into()));
        assert_eq!((icmp.sport, icmp.dport), (None, None));

        let nd =
            Packet::parse("IP6 :: > ff02::16: HBH ICMP6, multicast listener report v2, length 28");
        assert_eq!(nd.src, "::".parse().ok());
        assert_eq!(nd.dst, "ff02::16".parse().ok());

        let arp = Packet::parse("ARP, Request who-has 10.9.0.2 tell 10.9.0.1, length 28");
        assert_eq!((arp.src, arp.dst, arp.tcp_flags()), (None, None, None));
    }
}
