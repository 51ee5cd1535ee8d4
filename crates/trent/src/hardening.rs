//! Process hardening for `trent serve`.
//!
//! The server's memory holds the root key, every cached key's material and, briefly, the
//! plaintexts and secret values it serves. Values are zeroized when dropped, but while they live
//! a core dump would copy them to disk, readable by whoever reads the dump directory, and swap
//! may write them out too. So, on Linux:
//!
//! - core dumps are off unless `--allow-core-dumps`: `RLIMIT_CORE` soft and hard limits 0 (no
//!   core file, and the process cannot raise it again), and `PR_SET_DUMPABLE` 0, which also
//!   refuses `ptrace` attachment by other processes of the same user and makes `/proc/<pid>/`
//!   files (`mem`, `environ`, `maps`) root-owned;
//! - with `--mlock`, `mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)` locks every page of the
//!   process in RAM, the key caches with the rest, so nothing is swapped out. The whole process
//!   rather than the caches alone: secrets pass through buffers all over (request bodies,
//!   serializers, aws-lc), and no allocator-level locking would find them all. `MCL_ONFAULT`
//!   locks pages as they are first touched instead of populating every mapping at once, so the
//!   resident size stays what the server uses (reserved thread stacks and allocator arenas are
//!   not faulted in).
//!
//! Both go through `rustix`'s safe wrappers, so the crate stays free of `unsafe`.

/// The hardening flags of `trent serve`.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct HardeningArgs {
    /// Keep core dumps possible. By default `trent serve` (on Linux) sets its core size limit
    /// to 0 and marks itself not dumpable, because a core dump would hold the root key and
    /// cached key material in clear.
    #[arg(long, env = "TRENT_ALLOW_CORE_DUMPS")]
    pub allow_core_dumps: bool,

    /// Lock all of the server's memory in RAM (mlockall, current and future pages), so no key
    /// material is ever swapped out (Linux). Needs CAP_IPC_LOCK or a locked-memory limit
    /// (ulimit -l, LimitMEMLOCK= under systemd) above the server's size; the start fails with
    /// the limit named otherwise.
    #[arg(long, env = "TRENT_MLOCK")]
    pub mlock: bool,
}

/// Applies the hardening `args` ask for, logging what was done. Fails only when `--mlock`
/// cannot be honoured or core dumps cannot be turned off.
pub fn apply(args: HardeningArgs) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        linux::apply(args)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if args.mlock {
            anyhow::bail!("--mlock is supported on Linux only");
        }
        if !args.allow_core_dumps {
            tracing::warn!(
                "core dumps are not disabled on this platform: disable them for this process \
                 (ulimit -c 0) so that a crash cannot write key material to disk"
            );
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use anyhow::Context as _;
    use rustix::mm::{MlockAllFlags, mlockall};
    use rustix::process::{
        DumpableBehavior, Resource, Rlimit, dumpable_behavior, getrlimit, set_dumpable_behavior,
        setrlimit,
    };

    use super::HardeningArgs;

    pub fn apply(args: HardeningArgs) -> anyhow::Result<()> {
        if args.allow_core_dumps {
            let limit = getrlimit(Resource::Core);
            tracing::warn!(
                core_limit = %show(limit.current),
                "core dumps allowed (--allow-core-dumps): a dump holds the root key and cached \
                 key material in clear"
            );
        } else {
            disable_core_dumps()?;
        }
        if args.mlock {
            lock_memory()?;
        }
        Ok(())
    }

    fn disable_core_dumps() -> anyhow::Result<()> {
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, none).context("cannot set the core file size limit to 0")?;
        set_dumpable_behavior(DumpableBehavior::NotDumpable)
            .context("cannot mark the process not dumpable")?;
        // Read back what the kernel now holds, so the log states facts rather than intentions.
        let limit = getrlimit(Resource::Core);
        let dumpable = dumpable_behavior().context("cannot read the dumpable flag")?;
        if limit != none || dumpable != DumpableBehavior::NotDumpable {
            anyhow::bail!("core dumps are still possible after disabling them");
        }
        tracing::info!(
            core_limit = 0,
            dumpable = false,
            "core dumps disabled (--allow-core-dumps keeps them)"
        );
        Ok(())
    }

    fn lock_memory() -> anyhow::Result<()> {
        let limit = getrlimit(Resource::Memlock);
        mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT).with_context(|| {
            format!(
                "--mlock: cannot lock the server's memory: the locked-memory limit \
                 (RLIMIT_MEMLOCK) is {} bytes; raise it (ulimit -l unlimited, LimitMEMLOCK=infinity \
                 under systemd) or grant CAP_IPC_LOCK (Linux 4.4 or later is needed)",
                show(limit.current)
            )
        })?;
        match limit.current {
            None => tracing::info!("all server memory locked in RAM (--mlock)"),
            Some(bytes) => tracing::warn!(
                memlock_limit = bytes,
                "all server memory locked in RAM (--mlock); unless the process has CAP_IPC_LOCK, \
                 allocations beyond the locked-memory limit will fail and stop the server"
            ),
        }
        Ok(())
    }

    fn show(limit: Option<u64>) -> String {
        limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
    }
}
