//! `parse`: the split pipeline's parse stage (services/PIPELINE.md), or with `--check-file` a
//! one-shot validator over a file for parity tests against the DuckDB oracle.

use std::process::ExitCode;
use std::time::Duration;

use parse::control::{Control, Reporter};
use parse::crash::CrashPoint;
use parse::stage::{self, Config, ParseStage};
use parse::{checkfile, log};

const USAGE: &str = "\
Usage:
  parse [--host 127.0.0.1] [--port 0] [--name parse] [--downstream rules]
        [--control-url URL] [--downstream-address HOST:PORT]
      Serves pipeline.v1.ParseService (h2c), registers with the control server's topology
      (--control-url, default $MR_CONTROL_HTTP_URL or http://127.0.0.1:3000; Connect JSON over
      HTTP/1.1) and finds its downstream there, unless --downstream-address is given.
      Recovery tests: MR_CRASH_AT=barrier:<N> with MR_CRASH_MARKER=<file> makes it SIGKILL itself
      when Barrier N arrives, once (only while the marker file does not exist; it creates it).
  parse --check-file INPUT [--results FILE] [--window-seconds N]
      Frames INPUT like pipeline/src/validate/line-reader.ts, validates every line and prints the
      dead letters as NDJSON {\"line\":N,\"reason\":R} on stdout and a summary on stderr. --results
      writes the canonical results.json for the rules {\"drop\":[],\"tag\":[],\"windowSeconds\":N}
      (default 60).
";

struct Flags {
    host: String,
    port: u16,
    name: String,
    downstream: String,
    control_url: String,
    downstream_address: Option<String>,
    check_file: Option<String>,
    results: Option<String>,
    window_seconds: i64,
}

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        host: "127.0.0.1".into(),
        port: 0,
        name: "parse".into(),
        downstream: "rules".into(),
        control_url: std::env::var("MR_CONTROL_HTTP_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:3000".into()),
        downstream_address: None,
        check_file: None,
        results: None,
        window_seconds: 60,
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--help" || a == "-h" {
            return Err(String::new());
        }
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        if !key.starts_with("--") {
            return Err(format!("unexpected argument {a:?}"));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("{key} needs a value"))?
            }
        };
        match key.as_str() {
            "--host" => f.host = value,
            "--port" => f.port = value.parse().map_err(|_| format!("--port must be 0..65535, got {value:?}"))?,
            "--name" => f.name = value,
            "--downstream" => f.downstream = value,
            "--control-url" => f.control_url = value,
            "--downstream-address" => f.downstream_address = Some(value),
            "--check-file" => f.check_file = Some(value),
            "--results" => f.results = Some(value),
            "--window-seconds" => {
                f.window_seconds = value
                    .parse()
                    .ok()
                    .filter(|n: &i64| *n > 0)
                    .ok_or_else(|| format!("--window-seconds must be a positive integer, got {value:?}"))?
            }
            _ => return Err(format!("unknown flag {key}")),
        }
        i += 1;
    }
    if f.name.is_empty() || f.downstream.is_empty() {
        return Err("--name and --downstream must not be empty".into());
    }
    Ok(f)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match parse_flags(&args) {
        Ok(f) => f,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("parse: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(input) = &flags.check_file {
        return ExitCode::from(checkfile::run(input, flags.results.as_deref(), flags.window_seconds) as u8);
    }
    // One thread for the streams: on the 2-core machine shared by five stage processes a second
    // worker mostly adds cross-thread wakeups (measured: less CPU per event than the
    // multi-thread runtime, same throughput). The per-batch work (milliseconds) runs on the
    // blocking pool, two batches at once (stage.rs, WORKERS).
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("parse: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(serve(flags))
}

async fn serve(flags: Flags) -> ExitCode {
    let crash = match CrashPoint::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parse: {e}");
            return ExitCode::from(2);
        }
    };
    let control = match Control::new(&flags.control_url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parse: {e}");
            return ExitCode::from(2);
        }
    };
    let (listener, addr) = match stage::bind(&flags.host, flags.port).await {
        Ok(x) => x,
        Err(e) => {
            log::error(&flags.name, "", &format!("cannot listen on {}:{}: {e}", flags.host, flags.port));
            return ExitCode::from(1);
        }
    };
    // The address others dial: a wildcard listen address is reached through the loopback.
    let dial_host = match flags.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        h => h,
    };
    let address = format!("{dial_host}:{}", addr.port());
    let reporter = Reporter::new(control.clone(), &flags.name, &flags.downstream, &address);
    let mut cfg = Config::new(&flags.name, &flags.downstream);
    cfg.downstream_address = flags.downstream_address.clone();
    cfg.control = Some(control);
    cfg.reporter = Some(reporter.clone());
    let crash_note = crash
        .as_ref()
        .map(|c| format!("crash point armed: SIGKILL at barrier {} unless {} exists", c.barrier, c.marker.display()));
    cfg.crash = crash;
    log::line(
        "info",
        &flags.name,
        "",
        &format!("serving ParseService on {address}"),
        &[("address", serde_json::json!(address)), ("pid", serde_json::json!(std::process::id()))],
    );
    if let Some(note) = crash_note {
        log::info(&flags.name, "", &note);
    }
    tokio::spawn(reporter.clone().run());

    // A supervised process must not outlive its supervisor: exit when re-parented.
    if std::env::var("MR_PROCESS_NAME").is_ok_and(|v| !v.is_empty()) {
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if unsafe { libc::getppid() } != parent {
                    std::process::exit(0);
                }
            }
        });
    }

    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let server = stage::serve(listener, ParseStage::new(cfg), std::future::pending::<()>());
    tokio::select! {
        r = server => {
            if let Err(e) = r {
                log::error(&flags.name, "", &format!("server failed: {e}"));
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        _ = shutdown => {
            let t = std::time::Instant::now();
            reporter.stop().await;
            log::info(&flags.name, "", &format!("stopped: unregistered from the topology in {} ms", t.elapsed().as_millis()));
            // Exit now: in-flight runs end with the process (their streams break).
            std::process::exit(0)
        }
    }
}
