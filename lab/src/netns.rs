//! Network namespaces by name (`ip netns`, files under [`NETNS_DIR`]): created and deleted with
//! `ip`, entered by a thread with `setns(2)` so code (sockets, a TUN device, a whole backend)
//! runs inside one while the caller stays where it is.

use std::path::Path;
use std::time::Duration;

use crate::cmd::{self, LabError, Output};

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Creates namespace `name` and brings its loopback up.
pub fn add(name: &str) -> Result<(), LabError> {
    cmd::ip(&["netns", "add", name])?;
    cmd::ip(&["-n", name, "link", "set", "lo", "up"]).map(drop)
}

/// Deletes namespace `name` (its links go with it, and so do their veth peers elsewhere); whether
/// there was one to delete.
pub fn delete(name: &str) -> bool {
    cmd::ip(&["netns", "delete", name]).is_ok()
}

/// Whether namespace `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// The names of every named namespace.
pub fn list() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` on a thread that has joined namespace `ns` and returns what it returns; a panic in
/// `f` goes on in the caller. Sockets and devices `f` creates belong to `ns` and stay there, and
/// threads `f` spawns inherit it: the caller can use them from any thread.
pub fn with_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
    let path = Path::new(NETNS_DIR).join(ns);
    let enter = |source| LabError::Enter {
        ns: ns.to_owned(),
        source,
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).map_err(enter)?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|errno| enter(errno.into()))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A namespace that lives as long as this value: created fresh (a leftover of the same name,
/// from a run that died, is deleted first) and deleted on drop, also when a test fails.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates namespace `name` (see the type's doc).
    pub fn create(name: impl Into<String>) -> Result<Namespace, LabError> {
        let name = name.into();
        delete(&name);
        add(&name)?;
        Ok(Namespace { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <this> args…`, which must succeed; its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String, LabError> {
        cmd::ip_in(Some(&self.name), args)
    }

    /// Runs `program args…` inside this namespace, bounded by [`cmd::COMMAND_TIMEOUT`].
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, LabError> {
        self.exec_for(program, args, cmd::COMMAND_TIMEOUT)
    }

    /// Runs `program args…` inside this namespace, bounded by `limit`.
    pub fn exec_for(
        &self,
        program: &str,
        args: &[&str],
        limit: Duration,
    ) -> Result<Output, LabError> {
        cmd::in_ns(&self.name, program, args, limit)
    }

    /// Runs `f` inside this namespace ([`with_ns`]).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        with_ns(&self.name, f)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        delete(&self.name);
    }
}
