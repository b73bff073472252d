//! NodeAddressController: the OS → `NodeAddresses.net.weft.dev` (ns `network`, id `routed`): this
//! node's routed addresses (see `os::addresses` for the rule), what its affiliate advertises.
//!
//! Weft polls instead of following netlink: addresses of a node change rarely, and a poll every
//! [`POLL_INTERVAL`] costs one `getifaddrs`; the store drops unchanged writes, so nothing
//! downstream wakes unless an address really changed.

use std::time::Duration;

use weft_api::resources::TypedSpec;

use crate::os::addresses::{AddressSource, routed};
use crate::resources::cluster::{NodeAddressSpec, ROUTED_ID};
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "network.NodeAddressController";
/// How often the OS is asked.
pub const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// See the module doc.
pub struct NodeAddressController {
    source: Box<dyn AddressSource>,
}

impl std::fmt::Debug for NodeAddressController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAddressController")
            .finish_non_exhaustive()
    }
}

impl NodeAddressController {
    pub fn new(source: Box<dyn AddressSource>) -> NodeAddressController {
        NodeAddressController { source }
    }
}

impl Controller for NodeAddressController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        Vec::new()
    }

    fn outputs(&self) -> Vec<String> {
        vec![NodeAddressSpec::TYPE.to_owned()]
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(POLL_INTERVAL)
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let all = self.source.addresses()?;
        let spec = NodeAddressSpec {
            addresses: routed(&all),
        };
        ctx.apply_outputs([(ROUTED_ID.to_owned(), spec)])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use weft_api::resource::{Pointer, Resource};

    use super::*;
    use crate::os::addresses::InterfaceAddress;
    use crate::runtime::engine::Engine;
    use crate::runtime::state::State;
    use crate::runtime::testing::assert_resource;

    /// Addresses the test changes at will.
    #[derive(Clone, Default)]
    struct Fixed(Arc<Mutex<Vec<InterfaceAddress>>>);

    impl AddressSource for Fixed {
        fn addresses(&self) -> anyhow::Result<Vec<InterfaceAddress>> {
            Ok(self.0.lock().expect("lock").clone())
        }
    }

    fn addr(link: &str, net: &str) -> InterfaceAddress {
        InterfaceAddress {
            link: link.to_owned(),
            address: net.parse().expect("net"),
            up: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn publishes_routed_addresses_and_follows_changes() {
        let state = State::new();
        for d in crate::resources::definitions() {
            state.register_definition(d).expect("register");
        }
        let source = Fixed::default();
        *source.0.lock().expect("lock") = vec![
            addr("lo", "127.0.0.1/8"),
            addr("eth0", "172.20.0.3/24"),
            addr("eth0", "fe80::3/64"),
        ];
        let mut engine = Engine::new(state.clone());
        engine
            .add(NodeAddressController::new(Box::new(source.clone())))
            .expect("add");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(engine.run(shutdown.clone()));
        let p = Pointer::to::<NodeAddressSpec>(ROUTED_ID);
        let want = |list: &'static [&'static str]| {
            move |r: &Resource| {
                let spec: NodeAddressSpec = r.decode()?;
                let got: Vec<String> = spec.addresses.iter().map(ToString::to_string).collect();
                anyhow::ensure!(got == list, "addresses {got:?}");
                Ok(())
            }
        };
        assert_resource(&state, &p, want(&["172.20.0.3/24"])).await;
        source
            .0
            .lock()
            .expect("lock")
            .push(addr("eth1", "2001:db8::3/64"));
        // Picked up by the next poll.
        tokio::time::sleep(POLL_INTERVAL).await;
        assert_resource(&state, &p, want(&["172.20.0.3/24", "2001:db8::3/64"])).await;
        shutdown.cancel();
        task.await.expect("join").expect("engine");
    }
}
