//! Link, address, route and rule configuration over rtnetlink, for the userspace backend and the
//! traffic capture (`crate::capture`).
//!
//! Why netlink and not the `ip` command: `rtnetlink` (rust-netlink, maintained, MIT) covers every
//! call needed here with typed messages, reports failures as errno values we can tell apart
//! ("already gone" vs a real error), needs no `iproute2` on the host, and costs no process per
//! route on every reconcile. Each request is bounded by [`NETLINK_TIMEOUT`].
//!
//! A netlink socket belongs to the network namespace of the thread that opens it; the backend opens
//! it on its own data-plane thread, so everything here acts in the backend's namespace.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use futures::TryStreamExt as _;
use ipnet::{IpNet, Ipv6Net};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressScope,
};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMetric, RouteProtocol, RouteScope};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::{IpVersion, LinkUnspec, RouteMessageBuilder};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::DataPlaneError;

/// Upper bound for one netlink request: the kernel answers in microseconds, so hitting this means
/// something is badly wrong and apply should fail (and be retried) rather than hang.
pub const NETLINK_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`Netlink::wait_link_gone`] looks again.
const LINK_GONE_POLL: Duration = Duration::from_millis(20);

/// A policy-routing rule `[not] fwmark <fwmark>/<mask> lookup <table> [suppress_prefixlength
/// <n>]` at `priority`, for IPv4 and IPv6. Inverted (wg-quick's scheme): everything except the
/// packets carrying the mark (the tunnel's own UDP) consults `table`. Plain (KubeSpan's): only
/// packets nftables marked do. `suppress_prefix_length`: routes of at most that prefix length
/// found in `table` are ignored (0: its default routes), and the lookup goes on to the next rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub table: u32,
    pub priority: u32,
    pub fwmark: u32,
    pub mask: u32,
    pub invert: bool,
    pub suppress_prefix_length: Option<u32>,
}

impl Rule {
    /// Whether a dumped rule is this one.
    fn matches(&self, message: &RuleMessage) -> bool {
        let mut table = u32::from(message.header.table);
        let (mut priority, mut fwmark, mut mask, mut suppress) = (None, None, None, None);
        for attribute in &message.attributes {
            match attribute {
                // The kernel reports "not set" as u32::MAX.
                RuleAttribute::SuppressPrefixLen(n) if *n != u32::MAX => suppress = Some(*n),
                // Tables above 255 only fit the attribute; the kernel sends it for every table.
                RuleAttribute::Table(t) => table = *t,
                RuleAttribute::Priority(p) => priority = Some(*p),
                RuleAttribute::FwMark(m) => fwmark = Some(*m),
                RuleAttribute::FwMask(m) => mask = Some(*m),
                _ => {}
            }
        }
        message.header.action == RuleAction::ToTable
            && message.header.flags.contains(RuleFlags::Invert) == self.invert
            && table == self.table
            && priority == Some(self.priority)
            && fwmark == Some(self.fwmark)
            && mask.unwrap_or(u32::MAX) == self.mask
            && suppress == self.suppress_prefix_length
    }
}

/// An rtnetlink connection; its socket lives in the namespace it was opened in.
#[derive(Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// A failed netlink call: `what` names the object, never a key; the reason is the OS error for a
/// refusal ([`describe`]), the call's error stays the source.
fn failure(what: impl Into<String>, err: rtnetlink::Error) -> DataPlaneError {
    DataPlaneError::Netlink {
        what: what.into(),
        reason: describe(&err),
        source: err,
    }
}

/// The errno of a netlink NACK (positive, as in `libc`), if that is what `err` is.
fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// `err` as text: the OS error for a NACK ("No such device (os error 19)"), else the crate's.
fn describe(err: &rtnetlink::Error) -> String {
    match errno(err) {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => err.to_string(),
    }
}

const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;

/// Runs one request under [`NETLINK_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    request: impl Future<Output = Result<T, rtnetlink::Error>>,
) -> Result<Result<T, rtnetlink::Error>, DataPlaneError> {
    tokio::time::timeout(NETLINK_TIMEOUT, request)
        .await
        .map_err(|_| {
            DataPlaneError::failed(
                what,
                format!("no netlink answer within {NETLINK_TIMEOUT:?}"),
            )
        })
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace. Must run inside a tokio
    /// runtime: the connection's driver is spawned on it.
    pub fn connect() -> Result<Netlink, DataPlaneError> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| DataPlaneError::io("opening a netlink socket", e))?;
        Ok(Netlink {
            handle,
            connection: tokio::spawn(connection),
        })
    }

    /// The index of the link called `name`, `None` when there is none.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, DataPlaneError> {
        let what = format!("looking up link {name}");
        let request = async {
            self.handle
                .link()
                .get()
                .match_name(name)
                .execute()
                .try_next()
                .await
        };
        match bounded(&what, request).await? {
            Ok(link) => Ok(link.map(|l| l.header.index)),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
            Err(e) => Err(failure(what, e)),
        }
    }

    /// Sets the link's MTU and brings it up (both idempotent).
    pub async fn set_mtu_up(&self, name: &str, index: u32, mtu: u32) -> Result<(), DataPlaneError> {
        let what = format!("setting MTU {mtu} and up on {name}");
        let message = LinkUnspec::new_with_index(index).mtu(mtu).up().build();
        bounded(&what, self.handle.link().set(message).execute())
            .await?
            .map_err(|e| failure(what, e))
    }

    /// Makes `address` the link's only global IPv6 address: added (or refreshed) with `nodad`, so
    /// it is usable at once instead of after 1–2 s of duplicate-address detection — it is unique
    /// by construction (derived from the node's key material and MAC) — and any other global IPv6
    /// address removed (a changed KubeSpan address replaces the old one). Link-local addresses and
    /// IPv4 are left alone.
    pub async fn set_address(
        &self,
        name: &str,
        index: u32,
        address: Ipv6Net,
    ) -> Result<(), DataPlaneError> {
        let what = format!("adding address {address} to {name}");
        let mut request = self
            .handle
            .address()
            .add(index, IpAddr::V6(address.addr()), address.prefix_len())
            .replace();
        let message = request.message_mut();
        message.header.flags = AddressHeaderFlags::Nodad;
        message
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        bounded(&what, request.execute())
            .await?
            .map_err(|e| failure(what, e))?;

        let what = format!("listing the addresses of {name}");
        let listed = bounded(&what, async {
            self.handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .map_err(|e| failure(what, e))?;
        for message in listed {
            if message.header.family != AddressFamily::Inet6
                || message.header.scope != AddressScope::Universe
            {
                continue;
            }
            let ours = message.attributes.iter().any(
                |a| matches!(a, AddressAttribute::Address(IpAddr::V6(ip)) if *ip == address.addr()),
            ) && message.header.prefix_len == address.prefix_len();
            if ours {
                continue;
            }
            let what = format!("removing a stale address from {name}");
            match bounded(&what, self.handle.address().del(message).execute()).await? {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(EADDRNOTAVAIL) => {}
                Err(e) => return Err(failure(what, e)),
            }
        }
        Ok(())
    }

    fn route_message(
        index: u32,
        table: u32,
        net: IpNet,
        scope: RouteScope,
    ) -> Result<rtnetlink::packet_route::route::RouteMessage, DataPlaneError> {
        let net = net.trunc();
        Ok(RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(net.addr(), net.prefix_len())
            .map_err(|e| DataPlaneError::refused(format!("route {net}"), e))?
            .output_interface(index)
            .table_id(table)
            .protocol(RouteProtocol::Static)
            .scope(scope)
            .build())
    }

    /// `ip route replace default dev <link> table <table> metric 1 mtu <mtu> proto static`, for
    /// IPv4 (`v6` false) or IPv6: where traffic marked for the tunnel goes (KubeSpan §5).
    pub async fn replace_default_route(
        &self,
        name: &str,
        index: u32,
        table: u32,
        v6: bool,
        mtu: u32,
    ) -> Result<(), DataPlaneError> {
        self.replace_route_with_mtu(name, index, table, default_net(v6), mtu)
            .await
    }

    /// `ip route replace <net> dev <link> table <table> metric 1 mtu <mtu> proto static`.
    pub async fn replace_route_with_mtu(
        &self,
        name: &str,
        index: u32,
        table: u32,
        net: IpNet,
        mtu: u32,
    ) -> Result<(), DataPlaneError> {
        let what = format!("routing {net} via {name} (table {table}, MTU {mtu})");
        let mut message = Self::route_message(index, table, net, RouteScope::Link)?;
        message.attributes.push(RouteAttribute::Priority(1));
        message
            .attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        bounded(&what, self.handle.route().add(message).replace().execute())
            .await?
            .map_err(|e| failure(what, e))
    }

    /// Deletes the default route of one family through the link in `table`; gone is fine.
    pub async fn delete_default_route(
        &self,
        name: &str,
        index: u32,
        table: u32,
        v6: bool,
    ) -> Result<(), DataPlaneError> {
        self.delete_route(name, index, table, default_net(v6)).await
    }

    /// Deletes the route to `net` through the link; a route that is already gone is fine.
    pub async fn delete_route(
        &self,
        name: &str,
        index: u32,
        table: u32,
        net: IpNet,
    ) -> Result<(), DataPlaneError> {
        let what = format!("removing the route {net} via {name} (table {table})");
        // Scope "nowhere" matches any scope, as `ip route del` does.
        let message = Self::route_message(index, table, net, RouteScope::NoWhere)?;
        match bounded(&what, self.handle.route().del(message).execute()).await? {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(ESRCH | ENOENT | ENODEV)) => Ok(()),
            Err(e) => Err(failure(what, e)),
        }
    }

    /// Deletes the link; one that is already gone is fine.
    pub async fn delete_link(&self, name: &str, index: u32) -> Result<(), DataPlaneError> {
        let what = format!("deleting link {name}");
        match bounded(&what, self.handle.link().del(index).execute()).await? {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(failure(what, e)),
        }
    }

    /// Waits until the link `name` with `index` is gone (no link of that name, or another one
    /// created since); `false` if it is still there at `deadline`.
    pub async fn wait_link_gone(
        &self,
        name: &str,
        index: u32,
        deadline: Instant,
    ) -> Result<bool, DataPlaneError> {
        loop {
            if self.link_index(name).await? != Some(index) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(LINK_GONE_POLL).await;
        }
    }

    /// Every rule of one family.
    async fn list_rules(&self, version: IpVersion) -> Result<Vec<RuleMessage>, DataPlaneError> {
        let what = "listing routing rules";
        bounded(what, async {
            self.handle
                .rule()
                .get(version)
                .execute()
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .map_err(|e| failure(what, e))
    }

    /// The rules of one family that are `rule`.
    async fn find_rules(
        &self,
        rule: &Rule,
        version: IpVersion,
    ) -> Result<Vec<RuleMessage>, DataPlaneError> {
        let all = self.list_rules(version).await?;
        Ok(all.into_iter().filter(|m| rule.matches(m)).collect())
    }

    /// Adds each of `rules` for IPv4 and IPv6 where it is missing (a rule can exist twice, so
    /// look first: one listing per family for all of them).
    pub async fn ensure_rules(&self, rules: &[Rule]) -> Result<(), DataPlaneError> {
        for version in [IpVersion::V4, IpVersion::V6] {
            let present = self.list_rules(version.clone()).await?;
            for rule in rules {
                if !present.iter().any(|m| rule.matches(m)) {
                    self.add_rule(rule, version.clone()).await?;
                }
            }
        }
        Ok(())
    }

    /// Adds `rule` for one family.
    async fn add_rule(&self, rule: &Rule, version: IpVersion) -> Result<(), DataPlaneError> {
        let what = format!(
            "adding the rule {}fwmark {:#x}/{:#x} lookup {}{} (priority {})",
            if rule.invert { "not " } else { "" },
            rule.fwmark,
            rule.mask,
            rule.table,
            rule.suppress_prefix_length
                .map(|n| format!(" suppress_prefixlength {n}"))
                .unwrap_or_default(),
            rule.priority
        );
        let mut extra = vec![RuleAttribute::FwMask(rule.mask)];
        if let Some(n) = rule.suppress_prefix_length {
            extra.push(RuleAttribute::SuppressPrefixLen(n));
        }
        let flags = if rule.invert {
            RuleFlags::Invert
        } else {
            RuleFlags::empty()
        };
        let request = self
            .handle
            .rule()
            .add()
            .table_id(rule.table)
            .priority(rule.priority)
            .fw_mark(rule.fwmark)
            .action(RuleAction::ToTable);
        let result = match version {
            IpVersion::V4 => {
                let mut request = request.v4();
                let message = request.message_mut();
                message.header.flags = flags;
                message.attributes.extend(extra);
                bounded(&what, request.execute()).await?
            }
            IpVersion::V6 => {
                let mut request = request.v6();
                let message = request.message_mut();
                message.header.flags = flags;
                message.attributes.extend(extra);
                bounded(&what, request.execute()).await?
            }
        };
        result.map_err(|e| failure(what, e))
    }

    /// Deletes every copy of `rule`, both families.
    pub async fn delete_rule(&self, rule: &Rule) -> Result<(), DataPlaneError> {
        for version in [IpVersion::V4, IpVersion::V6] {
            for message in self.find_rules(rule, version.clone()).await? {
                let what = format!(
                    "deleting the rule lookup {} (priority {})",
                    rule.table, rule.priority
                );
                match bounded(&what, self.handle.rule().del(message).execute()).await? {
                    Ok(()) => {}
                    Err(e) if matches!(errno(&e), Some(ENOENT | ESRCH)) => {}
                    Err(e) => return Err(failure(what, e)),
                }
            }
        }
        Ok(())
    }
}

/// `0.0.0.0/0` or `::/0`.
fn default_net(v6: bool) -> IpNet {
    if v6 {
        IpNet::V6(Ipv6Net::default())
    } else {
        IpNet::V4(ipnet::Ipv4Net::default())
    }
}
