//! Process figures for StageMetrics and heartbeats: CPU seconds, peak and current RSS.

use std::time::Instant;

fn rusage() -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    }
}

/// CPU seconds (user + system) of this process so far.
pub fn cpu_seconds() -> f64 {
    let u = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time the calling thread has used so far (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu() -> std::time::Duration {
    // SAFETY: clock_gettime only writes into the zeroed struct we pass.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts
    };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Peak resident set size of this process (bytes).
pub fn peak_rss_bytes() -> u64 {
    (rusage().ru_maxrss as u64).saturating_mul(1024)
}

/// Current resident set size (bytes), from /proc/self/statm; 0 when unavailable.
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * if page > 0 { page as u64 } else { 4096 }
}

/// CPU percentage between successive calls.
pub struct CpuSampler {
    cpu: f64,
    at: Instant,
}

impl Default for CpuSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuSampler {
    pub fn new() -> Self {
        CpuSampler { cpu: cpu_seconds(), at: Instant::now() }
    }

    pub fn percent(&mut self) -> f64 {
        let cpu = cpu_seconds();
        let now = Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64().max(1e-6);
        let p = (cpu - self.cpu) / dt * 100.0;
        self.cpu = cpu;
        self.at = now;
        (p * 10.0).round() / 10.0
    }
}
