//! The open-file limit. Every node API connection, WireGuard socket and state file is a file
//! descriptor; the usual soft limit (1024) runs out under a connection flood long before the hard
//! limit does, so weftd raises its soft limit to the hard one at start (no privilege needed).

use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

/// Highest soft limit asked for when the hard limit is unlimited: Linux's default `fs.nr_open`,
/// above which `setrlimit` fails.
pub const NOFILE_CEILING: u64 = 1 << 20;

/// The soft limit to ask for, given the current `soft` and `hard` limits: the hard limit (at most
/// [`NOFILE_CEILING`]), never lower than `soft`.
pub fn raised(soft: u64, hard: u64) -> u64 {
    let target = if hard == RLIM_INFINITY {
        NOFILE_CEILING
    } else {
        hard.min(NOFILE_CEILING)
    };
    target.max(soft)
}

/// Raises the soft open-file limit towards the hard limit; returns (before, after).
pub fn raise_nofile() -> nix::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = raised(soft, hard);
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
    }
    Ok((soft, nofile()))
}

/// The current soft open-file limit (1024, the common default, if it cannot be read).
pub fn nofile() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_to_the_hard_limit_within_the_ceiling() {
        assert_eq!(raised(1024, 524_288), 524_288);
        assert_eq!(raised(1024, 4096), 4096);
        assert_eq!(raised(1024, RLIM_INFINITY), NOFILE_CEILING);
        assert_eq!(raised(1024, 1 << 30), NOFILE_CEILING);
        // Never lowered.
        assert_eq!(raised(4096, 4096), 4096);
        assert_eq!(raised(1 << 21, RLIM_INFINITY), 1 << 21);
    }

    #[test]
    fn raising_is_allowed_without_privileges() {
        let (_, after) = raise_nofile().expect("raise");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(after, soft);
        assert_eq!(soft, raised(soft, hard));
    }
}
