//! IdentityController: KubeSpanConfig → `KubeSpanIdentities.kubespan.weft.dev` (id `local`).
//!
//! The WireGuard keys are generated on this node the first time KubeSpan is enabled and kept in
//! `<stateDir>/kubespan-identity.yaml` (0600, created exclusively, written atomically); they never
//! leave the node except through the admin-only resource. Address and subnet are recomputed from
//! the cluster id and the first link's MAC each time the identity is established (start, or
//! KubeSpan disabled → enabled), as Talos does; while the resource exists it is kept as is. When
//! KubeSpan is disabled the resource is destroyed and the file kept. A file that cannot be read or
//! parsed is an error naming it — never silently replaced, which would change the node's identity.

use std::path::PathBuf;

use anyhow::Context as _;
use weft_api::resources::kubespan::identity::{IDENTITY_FILE_NAME, IdentityFile, IdentitySpec};
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.IdentityController";

/// Where the node's hardware address comes from (the OS in weftd, a fixed value in tests).
pub trait HardwareAddr: Send + Sync + 'static {
    /// The first link's MAC (see `os::links` for the rule).
    fn first_mac(&self) -> anyhow::Result<[u8; 6]>;
}

/// The OS: `/sys/class/net`.
#[derive(Debug, Default)]
pub struct SysfsHardwareAddr;

impl HardwareAddr for SysfsHardwareAddr {
    fn first_mac(&self) -> anyhow::Result<[u8; 6]> {
        let link = crate::os::links::first_link()
            .context("reading links from /sys/class/net")?
            .context("no Ethernet link with a hardware address: the KubeSpan address is derived from one")?;
        Ok(link.mac)
    }
}

/// See the module doc.
pub struct IdentityController {
    state_dir: PathBuf,
    hardware: Box<dyn HardwareAddr>,
}

impl std::fmt::Debug for IdentityController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityController")
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl IdentityController {
    pub fn new(state_dir: PathBuf, hardware: Box<dyn HardwareAddr>) -> IdentityController {
        IdentityController {
            state_dir,
            hardware,
        }
    }

    /// Path of the identity file.
    pub fn file(&self) -> PathBuf {
        self.state_dir.join(IDENTITY_FILE_NAME)
    }
}

impl Controller for IdentityController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![Kind::of::<KubeSpanConfigSpec>()]
    }

    fn outputs(&self) -> Vec<String> {
        vec![IdentitySpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        let Some(config) = config.filter(|c| c.enabled) else {
            ctx.apply_outputs(None::<(String, IdentitySpec)>)?;
            return Ok(());
        };
        if let Some(existing) = ctx.get::<IdentitySpec>(LOCAL_ID)? {
            // Kept as is (an unchanged write is no write).
            ctx.apply_outputs([(LOCAL_ID.to_owned(), existing)])?;
            return Ok(());
        }
        let file = self.file();
        let (keys, created) = IdentityFile::load_or_create(&file)?;
        if created {
            tracing::info!(file = %file.display(), public_key = %keys.public_key, "generated the KubeSpan identity");
        }
        let mac = self.hardware.first_mac()?;
        let spec = IdentitySpec::new(&keys, &config.cluster_id, mac);
        ctx.apply_outputs([(LOCAL_ID.to_owned(), spec)])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_api::resource::Pointer;

    use super::*;
    use crate::runtime::state::State;
    use crate::test_support::{fresh_state, put};

    const CLUSTER_ID: &str = "8XuV9TZHW08DOk3bVxQjH9ih_TBKjnh-j44tsCLSBzo=";

    struct FixedMac([u8; 6]);

    impl HardwareAddr for FixedMac {
        fn first_mac(&self) -> anyhow::Result<[u8; 6]> {
            Ok(self.0)
        }
    }

    fn set_config(state: &State, enabled: bool) {
        let spec = KubeSpanConfigSpec {
            enabled,
            cluster_id: CLUSTER_ID.into(),
            ..KubeSpanConfigSpec::default()
        };
        put(state, KubeSpanConfigSpec::ID, &spec);
    }

    fn pointer() -> Pointer {
        Pointer::to::<IdentitySpec>(LOCAL_ID)
    }

    async fn reconcile(state: &State, controller: &mut IdentityController) -> anyhow::Result<()> {
        let mut ctx = ReconcileContext::new(state, controller);
        controller.reconcile(&mut ctx).await
    }

    fn controller(dir: &std::path::Path, mac: [u8; 6]) -> IdentityController {
        IdentityController::new(dir.to_path_buf(), Box::new(FixedMac(mac)))
    }

    #[tokio::test]
    async fn creates_keeps_and_removes_the_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        let mut c = controller(dir.path(), [0x2e, 0x1a, 0xb6, 0x53, 0x81, 0x69]);

        // No config, or KubeSpan off: no identity, no file.
        reconcile(&state, &mut c).await.expect("reconcile");
        set_config(&state, false);
        reconcile(&state, &mut c).await.expect("reconcile");
        assert!(state.get(&pointer()).is_none());
        assert!(!c.file().exists());

        set_config(&state, true);
        reconcile(&state, &mut c).await.expect("reconcile");
        let spec: IdentitySpec = state
            .get(&pointer())
            .expect("identity")
            .decode()
            .expect("spec");
        // The reference's test vector.
        assert_eq!(spec.subnet.to_string(), "fd7f:175a:b97c:5602::/64");
        assert_eq!(
            spec.address.to_string(),
            "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/128"
        );
        let file = IdentityFile::load(&c.file()).expect("file");
        assert_eq!(file.public_key, spec.public_key);

        // Disabled: the resource goes, the file stays.
        set_config(&state, false);
        reconcile(&state, &mut c).await.expect("reconcile");
        assert!(state.get(&pointer()).is_none());
        assert!(c.file().exists());

        // A restart (fresh state, new controller) on another NIC: same keys, address recomputed.
        let state = fresh_state();
        set_config(&state, true);
        let mut c = controller(dir.path(), [0xea, 0x71, 0x1b, 0xb2, 0xcc, 0xee]);
        reconcile(&state, &mut c).await.expect("reconcile");
        let again: IdentitySpec = state
            .get(&pointer())
            .expect("identity")
            .decode()
            .expect("spec");
        assert_eq!(again.public_key, spec.public_key);
        assert_eq!(again.private_key, spec.private_key);
        assert_eq!(
            again.address.to_string(),
            "fd7f:175a:b97c:5602:e871:1bff:feb2:ccee/128"
        );
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_naming_it_and_is_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        let mut c = controller(dir.path(), [2, 0, 0, 0, 0, 1]);
        std::fs::write(c.file(), "publicKey: 12\n").expect("write");
        set_config(&state, true);
        let err = reconcile(&state, &mut c).await.expect_err("corrupt");
        assert!(
            format!("{err:#}").contains(&c.file().display().to_string()),
            "{err:#}"
        );
        assert_eq!(
            std::fs::read_to_string(c.file()).expect("read"),
            "publicKey: 12\n"
        );
        assert!(state.get(&pointer()).is_none());
    }
}
