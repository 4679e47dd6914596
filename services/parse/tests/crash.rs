//! MR_CRASH_AT / MR_CRASH_MARKER: what is accepted, what is refused and why, and the marker that
//! makes the crash happen once. (The kill itself is tested on the real binary in tests/stage.rs.)

use parse::crash::CrashPoint;

fn err(at: &str, marker: Option<&str>) -> String {
    CrashPoint::parse(Some(at), marker).expect_err(at)
}

#[test]
fn barrier_n_with_a_marker_is_a_crash_point() {
    let c = CrashPoint::parse(Some("barrier:3"), Some("/tmp/m")).unwrap().unwrap();
    assert_eq!(c, CrashPoint { barrier: 3, marker: "/tmp/m".into() });
    // Unset or empty: no crash point (a marker alone arms nothing).
    assert_eq!(CrashPoint::parse(None, Some("/tmp/m")).unwrap(), None);
    assert_eq!(CrashPoint::parse(Some(""), None).unwrap(), None);
}

#[test]
fn other_stages_points_and_malformed_values_are_refused_naming_them() {
    assert_eq!(
        err("saved:2", Some("/tmp/m")),
        "MR_CRASH_AT=saved:2: crash point \"saved\" does not apply to parse (it is for aggregate and sink); parse supports barrier:<N>"
    );
    assert!(err("commit:2", Some("/tmp/m")).contains("\"commit\" does not apply to parse (it is for ingest)"));
    assert!(err("end:0", Some("/tmp/m")).contains("\"end\" does not apply to parse (it is for sink)"));
    assert!(err("explode:1", Some("/tmp/m")).starts_with("MR_CRASH_AT=explode:1: unknown crash point \"explode\""));
    assert!(err("barrier", Some("/tmp/m")).starts_with("MR_CRASH_AT must be <point>:<N>"));
    for bad in ["barrier:", "barrier:0", "barrier:-1", "barrier:1.5", "barrier:x"] {
        let e = err(bad, Some("/tmp/m"));
        assert!(e.starts_with(&format!("MR_CRASH_AT={bad}: the checkpoint must be a positive integer")), "{e}");
    }
    assert!(err("barrier:2", None).starts_with("MR_CRASH_AT=barrier:2 needs MR_CRASH_MARKER"));
    assert!(err("barrier:2", Some("")).starts_with("MR_CRASH_AT=barrier:2 needs MR_CRASH_MARKER"));
}

#[test]
fn the_crash_is_armed_once_and_creates_the_marker_first() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let marker = std::env::temp_dir().join(format!("parse-crash-arm-{}-{nanos}", std::process::id()));
    let c = CrashPoint { barrier: 2, marker: marker.clone() };
    assert!(!c.arm(1).unwrap(), "not its barrier");
    assert!(!marker.exists());
    assert!(c.arm(2).unwrap(), "its barrier, no marker yet: crash");
    assert!(marker.exists(), "the marker exists before the kill");
    assert!(!c.arm(2).unwrap(), "the marker exists: no second crash");
    // at_barrier returns when there is nothing to do (it would not, were the crash armed).
    c.at_barrier(2).unwrap();
    c.at_barrier(3).unwrap();
    std::fs::remove_file(&marker).unwrap();
    // A marker that cannot be created: no crash (it would loop), but an error to log.
    let c = CrashPoint { barrier: 1, marker: std::env::temp_dir().join("no-such-dir-parse-test/m") };
    assert!(c.arm(1).unwrap_err().starts_with("cannot create the crash marker"));
}
