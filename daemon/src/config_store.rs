//! The running machine config: the file weftd was started with, and its copy in the state store
//! (`MachineConfigs.config.weft.dev`, id `v1alpha1`, sensitive) that controllers read. `apply`
//! validates a new config, persists it atomically over the file, then publishes it — so controllers
//! apply it live and a crash in between leaves the file either old or new, never torn.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use weft_api::config::validate::{self, ConfigError, ValidConfig};
use weft_api::fsutil;
use weft_api::resource::Resource;
use weft_api::resources::MACHINE_CONFIG_ID;

use crate::runtime::state::State;

/// Owner of the MachineConfig resource.
pub const OWNER: &str = "config.MachineConfigController";

/// Why a config could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Invalid(ConfigError),
    #[error("persisting the config: {0:#}")]
    Persist(anyhow::Error),
}

/// The running config and where it is persisted.
#[derive(Debug)]
pub struct ConfigStore {
    path: PathBuf,
    state: State,
    current: Mutex<ValidConfig>,
}

impl ConfigStore {
    /// Starts from the config loaded from `path` and publishes it.
    pub fn new(path: PathBuf, initial: ValidConfig, state: State) -> anyhow::Result<ConfigStore> {
        let store = ConfigStore {
            path,
            state,
            current: Mutex::new(initial.clone()),
        };
        store.publish(&initial)?;
        Ok(store)
    }

    /// The config in force.
    pub fn current(&self) -> ValidConfig {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Validates `text`; unless `dry_run`, persists it and applies it. Returns a message for the user.
    pub fn apply(&self, text: &str, dry_run: bool) -> Result<String, ApplyError> {
        let valid =
            validate::parse_machine_config(text, "applied config").map_err(ApplyError::Invalid)?;
        if dry_run {
            return Ok("Dry run: the config is valid; nothing was applied".to_owned());
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        // A symbolic link (a config kept under /etc pointing elsewhere) is written through.
        fsutil::resolve_links(&self.path)
            .and_then(|path| fsutil::write_atomic(&path, text.as_bytes(), fsutil::SECRET_FILE_MODE))
            .with_context(|| format!("writing {}", self.path.display()))
            .map_err(ApplyError::Persist)?;
        self.publish(&valid).map_err(ApplyError::Persist)?;
        let old = &current.config.machine;
        let new = &valid.config.machine;
        let mut restart = Vec::new();
        if old.ca != new.ca {
            restart.push("machine.ca");
        }
        if old.api != new.api {
            restart.push("machine.api");
        }
        if old.state_dir != new.state_dir {
            restart.push("machine.stateDir");
        }
        if old.cert_sans != new.cert_sans {
            restart.push("machine.certSANs");
        }
        *current = valid;
        tracing::info!(path = %self.path.display(), "applied a new machine config");
        Ok(if restart.is_empty() {
            "Applied configuration without a restart".to_owned()
        } else {
            format!(
                "Applied configuration without a restart; changes to {} take effect when weftd restarts",
                restart.join(", ")
            )
        })
    }

    fn publish(&self, valid: &ValidConfig) -> anyhow::Result<()> {
        let resource = Resource::new(MACHINE_CONFIG_ID, &valid.config)
            .context("encoding the machine config")?
            .owned_by(OWNER);
        if self.state.get(&resource.pointer()).is_some() {
            self.state.update(OWNER, resource)?;
        } else {
            self.state.create(resource)?;
        }
        Ok(())
    }
}
