//! Crash points for recovery tests (services/PIPELINE.md "Crash points"): with
//! `MR_CRASH_AT=barrier:<N>` and `MR_CRASH_MARKER=<file>` the stage SIGKILLs itself when Barrier N
//! arrives, once: only while the marker file does not exist, which it creates first. Read once in
//! main.rs; the other points (`saved`, `commit`, `end`) belong to other stages and are refused.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::PathBuf;

/// Where this process kills itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// The checkpoint id of the barrier to die at.
    pub barrier: u64,
    /// Its existence means the crash has happened already.
    pub marker: PathBuf,
}

impl CrashPoint {
    /// Reads `MR_CRASH_AT` and `MR_CRASH_MARKER`; None when `MR_CRASH_AT` is unset or empty.
    pub fn from_env() -> Result<Option<CrashPoint>, String> {
        let at = std::env::var("MR_CRASH_AT").ok();
        let marker = std::env::var("MR_CRASH_MARKER").ok();
        CrashPoint::parse(at.as_deref(), marker.as_deref())
    }

    /// Validates the two variables' values (`at` like `barrier:3`).
    pub fn parse(at: Option<&str>, marker: Option<&str>) -> Result<Option<CrashPoint>, String> {
        let Some(at) = at.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
        let Some((point, n)) = at.split_once(':') else {
            return Err(format!("MR_CRASH_AT must be <point>:<N> (parse supports barrier:<N>), got {at:?}"));
        };
        let owner = match point {
            "barrier" => None,
            "saved" => Some("aggregate and sink"),
            "commit" => Some("ingest"),
            "end" => Some("sink"),
            _ => {
                return Err(format!(
                    "MR_CRASH_AT={at}: unknown crash point {point:?} (the points are barrier, saved, commit, end; parse supports barrier:<N>)"
                ));
            }
        };
        if let Some(owner) = owner {
            return Err(format!(
                "MR_CRASH_AT={at}: crash point {point:?} does not apply to parse (it is for {owner}); parse supports barrier:<N>"
            ));
        }
        let barrier = n
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("MR_CRASH_AT={at}: the checkpoint must be a positive integer, got {n:?}"))?;
        let Some(marker) = marker.filter(|m| !m.is_empty()) else {
            return Err(format!(
                "MR_CRASH_AT={at} needs MR_CRASH_MARKER=<file> (the crash happens once, while that file does not exist)"
            ));
        };
        Ok(Some(CrashPoint { barrier, marker: PathBuf::from(marker) }))
    }

    /// Whether Barrier `checkpoint` is the point and has not crashed yet; if so the marker is
    /// created (atomically: of two racing processes only one gets true). A marker that cannot be
    /// created means no crash: dying without it would crash-loop.
    pub fn arm(&self, checkpoint: u64) -> Result<bool, String> {
        if checkpoint != self.barrier {
            return Ok(false);
        }
        match OpenOptions::new().write(true).create_new(true).open(&self.marker) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(format!("cannot create the crash marker {}: {e}", self.marker.display())),
        }
    }

    /// At Barrier `checkpoint`, before anything is done with it: SIGKILLs this process when
    /// `arm` says so; otherwise returns (an error to log when the marker could not be made).
    pub fn at_barrier(&self, checkpoint: u64) -> Result<(), String> {
        if self.arm(checkpoint)? {
            // SAFETY: kill and getpid have no preconditions; SIGKILL ends the process here.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        Ok(())
    }
}
