//! NAT sites of a [`Lab`]: a router namespace with one public address on the lab's bridge and a
//! private LAN behind it with one node, translating as [`Nat`] says.

use weft_lab::link;

use crate::lab::{Lab, must};
use crate::node::Node;
use crate::relay::ApiRelay;

/// How a site's router translates what its node sends to the internet (the lab bridge). Either
/// way the mapping of a UDP flow depends only on its source (endpoint-independent), while inbound
/// filtering depends on address and port: a datagram from the internet gets in only as a reply on
/// a flow the node opened (conntrack), or to the API port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Plain masquerade: Linux keeps the source port whenever it is free, so the node's WireGuard
    /// port is also its public port and guessing `<public IP>:51820` works.
    PortPreserving,
    /// UDP from source port `from` (the node's WireGuard port) leaves with the fixed public port
    /// `to`; everything else is masqueraded as above. A cone NAT that does not preserve ports:
    /// `<public IP>:<from>` (Talos KubeSpan's guess) is dead, only an observed endpoint works.
    MapUdpPort { from: u16, to: u16 },
}

/// One site of [`Lab::add_site`]: a NAT router on the bridge and a node namespace on its LAN.
#[derive(Debug, Clone)]
pub struct Site {
    /// The node's namespace ([`Lab::netns`]): `eth0` = [`Site::private`]/24, default route via
    /// the router.
    pub ns: String,
    /// The router's namespace ([`Lab::router_ns`]): `wan0` on the bridge, `lan0` toward the node.
    pub router_ns: String,
    /// The router's address on the bridge, the site's only public address ([`Lab::public_addr`]).
    pub public: String,
    /// The node's LAN address `192.168.<i>.2`: reachable from its router only.
    pub private: String,
}

/// The nftables ruleset of a site router: masquerade out of `wan0` (after `nat`'s own rule), and
/// a stateful firewall that lets in from the internet only replies, plus what a DNAT rule added to
/// `prerouting` forwards ([`Lab::forward_tcp`]). Unsolicited datagrams are dropped in `input`,
/// before conntrack confirms them: a confirmed entry for `peer → <public>:<port>` would clash with
/// the node's later flow to that peer, which masquerade would then move to another public port
/// (or drop, with `MapUdpPort`'s single port), breaking the very hole punching the NAT tests
/// exercise. (Checked: with `policy accept` here, natlab.rs sees a random public port.)
fn router_rules(nat: Nat) -> String {
    let map = match nat {
        Nat::PortPreserving => String::new(),
        Nat::MapUdpPort { from, to } => {
            format!("oifname \"wan0\" udp sport {from} masquerade to :{to}\n")
        }
    };
    format!(
        "table ip weft_site {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {map}oifname \"wan0\" masquerade
  }}
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname {{ \"lo\", \"lan0\" }} accept
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname \"lan0\" oifname \"wan0\" accept
    iifname \"wan0\" oifname \"lan0\" ct status dnat accept
  }}
}}
"
    )
}

/// Loads an nftables `script` in namespace `ns`, panicking with nft's error and the script.
pub fn nft(ns: &str, script: &str) {
    must(
        &format!("nft in {ns}\n{script}"),
        weft_lab::cmd::nft(ns, script),
    );
}

impl Lab {
    /// Adds site `i`: router namespace [`Lab::router_ns`] with `wan0` = [`Lab::public_addr`]/24 on
    /// the bridge and `lan0` = `192.168.<i>.1/24`, IPv4 forwarding and `nat`; node namespace
    /// [`Lab::netns`] with `eth0` = `192.168.<i>.2/24` and a default route via the router. The
    /// router has no default route — the bridge's /24 is the whole internet — and nothing routes
    /// to a site's LAN from outside, so another site's private address is undeliverable and
    /// nothing reaches the machine's real network. IPv4 only: the router does not forward IPv6.
    pub fn add_site(&mut self, i: u8, nat: Nat) -> Site {
        self.claim(i);
        let router = self.router_ns(i);
        let ns = self.netns(i);
        let public = self.public_addr(i);
        let lan = format!("192.168.{i}");
        self.add_netns(&router);
        self.add_netns(&ns);
        self.join_bridge(i, &router, "wan0");
        must(
            "a router's public address",
            link::address(Some(&router), "wan0", &format!("{public}/24")),
        );
        must(
            "a site's LAN",
            link::veth((Some(&router), "lan0"), (Some(&ns), "eth0")),
        );
        must(
            "a router's LAN address",
            link::address(Some(&router), "lan0", &format!("{lan}.1/24")),
        );
        must(
            "a site node's address",
            link::address(Some(&ns), "eth0", &format!("{lan}.2/24")),
        );
        must(
            "a site node's default route",
            link::default_route(&ns, &format!("{lan}.1")),
        );
        must(
            "IPv4 forwarding in the router",
            link::enable_ipv4_forwarding(&router),
        );
        nft(&router, &router_rules(nat));
        Site {
            ns,
            router_ns: router,
            public,
            private: self.private_addr(i),
        }
    }

    /// Forwards TCP `port` arriving at site `i`'s public address to its node (a port forward, as a
    /// home router's): the one way in from the internet besides replies.
    pub fn forward_tcp(&self, i: u8, port: u16) {
        nft(
            &self.router_ns(i),
            &format!(
                "add rule ip weft_site prerouting iifname \"wan0\" tcp dport {port} dnat to {}\n",
                self.private_addr(i)
            ),
        );
    }

    /// Puts `node` behind a NAT router at site `i` ([`Lab::add_site`]): config rewritten as for
    /// [`Lab::place`], its API port forwarded from the public address, and `node.api` set to a
    /// relay at `localhost:<port>` in the root namespace that dials `<public address>:<api port>`.
    /// The relay is needed because weftd's serving certificate names the node's own addresses and
    /// `localhost`, not its router's (unless `machine.certSANs` names it), so weftctl refuses the
    /// router address; `localhost` verifies, and the bytes still cross the router's port forward.
    pub fn place_behind_nat(&mut self, node: &mut Node, i: u8, nat: Nat) -> Site {
        let site = self.add_site(i, nat);
        self.forward_tcp(i, node.port);
        self.adopt(node, i);
        let target = format!("{}:{}", site.public, node.port)
            .parse()
            .expect("socket address");
        let relay = ApiRelay::start(target);
        node.api = format!("localhost:{}", relay.port);
        node.netns = Some(site.ns.clone());
        self.relays.push(relay);
        site
    }

    /// The namespace of site `i`'s router.
    pub fn router_ns(&self, i: u8) -> String {
        format!("wft{}r{i}", self.tag)
    }

    /// The LAN address of site `i`'s node, `192.168.<i>.2`: each site has its own private subnet.
    pub fn private_addr(&self, i: u8) -> String {
        format!("192.168.{i}.2")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_rules_map_the_wireguard_port_before_the_general_masquerade() {
        let rules = router_rules(Nat::MapUdpPort {
            from: 51820,
            to: 40001,
        });
        let map = rules
            .find("udp sport 51820 masquerade to :40001")
            .expect("the mapping rule");
        let general = rules
            .find("oifname \"wan0\" masquerade")
            .expect("masquerade");
        assert!(map < general, "{rules}");
        assert!(!router_rules(Nat::PortPreserving).contains("sport"));
    }
}
