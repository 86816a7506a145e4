//! Several workers on one job folder: shards running at once label every video exactly once,
//! byte-identical to one worker labelling them all; two workers of one shard never both label
//! a video; a claimed video is left to its worker and taken over when that worker is gone;
//! `prelabel report` merges the shard reports and exits with a status a scheduler can act on.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::jobs::{clips, labels, names, run_cmd};
use common::stderr;
use prelabel::batch::claim::{self, ClaimFile, Owner};
use serde_json::Value;

fn spawn(input: &Path, out: &Path, extra: &[&str]) -> Child {
    run_cmd(input, out, extra).env("PRELABEL_LOG", "prelabel=info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

fn done(c: Child) -> Output {
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The video folders the worker whose stderr is `e` says it labelled.
fn labelled(e: &str) -> Vec<String> {
    e.lines().filter_map(|l| l.split_once(": labelled, ").map(|(head, _)| head.rsplit(' ').next().unwrap().to_string())).collect()
}

/// `prelabel report DIR [--json]`: exit code and output.
fn report(dir: &Path, json: bool) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prelabel"));
    c.arg("report").arg(dir);
    if json {
        c.arg("--json");
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o))
}

#[test]
fn two_shards_at_once_label_every_video_once_like_one_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 6);
    let alone = t.join("alone");
    assert!(run_cmd(&input, &alone, &[]).status().unwrap().success());
    let want = labels(&alone);

    let out = t.join("out");
    let (a, b) = (
        spawn(&input, &out, &["--shard-count", "2", "--shard-index", "0"]),
        spawn(&input, &out, &["--shard-count", "2", "--shard-index", "1"]),
    );
    let (a, b) = (done(a), done(b));
    assert!(labels(&out) == want, "two shards at once differ from one worker alone");
    let (la, lb) = (labelled(&stderr(&a)), labelled(&stderr(&b)));
    let all: Vec<&String> = la.iter().chain(&lb).collect();
    let unique: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (6, 6), "each video labelled exactly once: {la:?} {lb:?}");

    // One report per shard; their assigned lists split the job.
    let (ra, rb) = (json(&out.join("report.shard-0-of-2.json")), json(&out.join("report.shard-1-of-2.json")));
    assert!(!out.join("report.json").exists());
    let assigned =
        |r: &Value| -> BTreeSet<String> { r["assigned"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect() };
    let (sa, sb) = (assigned(&ra), assigned(&rb));
    assert!(sa.is_disjoint(&sb) && sa.len() + sb.len() == 6, "{sa:?} {sb:?}");
    assert!(!sa.is_empty() && !sb.is_empty(), "6 videos in 2 shards: both get some ({sa:?} {sb:?})");
    assert_eq!(ra["shard"]["index"], 0);
    assert_eq!(rb["shard"]["count"], 2);
    for r in [&ra, &rb] {
        assert!(r["videos"].as_array().unwrap().iter().all(|v| v["status"] == "ok"), "{r}");
    }
    let (code, text) = report(&out, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("complete") && text.contains("6 video(s): 6 done"), "{text}");

    // Adding a file never moves the others: each shard keeps what it had.
    clips(&t.join("more"), 7);
    std::fs::rename(t.join("more/v6.avi"), input.join("v6.avi")).unwrap();
    for (i, before) in [(0, &sa), (1, &sb)] {
        let o = run_cmd(&input, &out, &["--shard-count", "2", "--shard-index", &i.to_string()]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let now = assigned(&json(&out.join(format!("report.shard-{i}-of-2.json"))));
        assert!(before.is_subset(&now) && now.len() - before.len() <= 1, "shard {i}: {before:?} -> {now:?}");
    }
    let (code, text) = report(&out, true);
    assert_eq!(code, 0, "{text}");
    let s: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s["totals"]["videos"].as_u64(), s["totals"]["done"].as_u64()), (Some(7), Some(7)), "{s}");
}

#[test]
fn two_workers_on_one_shard_never_both_label_a_video() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 6);
    let alone = t.join("alone");
    assert!(run_cmd(&input, &alone, &[]).status().unwrap().success());
    let want = labels(&alone);
    // Both are shard 0 of 1, as a retried Slurm task next to the one it replaces.
    let args = ["--shard-count", "1"];
    let mut met = 0;
    for round in 0..4 {
        let out = t.join(format!("round{round}"));
        let a = run_cmd(&input, &out, &args)
            .env("SLURM_ARRAY_TASK_ID", "0")
            .env("PRELABEL_LOG", "prelabel=info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let b = spawn(&input, &out, &["--shard-count", "1", "--shard-index", "0"]);
        let (ea, eb) = (stderr(&done(a)), stderr(&done(b)));
        let (la, lb) = (labelled(&ea), labelled(&eb));
        let mut all: Vec<&String> = la.iter().chain(&lb).collect();
        all.sort();
        let unique: BTreeSet<&String> = all.iter().copied().collect();
        assert_eq!((all.len(), unique.len()), (6, 6), "round {round}: each video labelled once: {la:?} {lb:?}\n{ea}\n{eb}");
        assert!(labels(&out) == want, "round {round}: differs from one worker alone");
        assert_eq!(names(&out.join(".staging")), Vec::<String>::new());
        assert_eq!(names(&out.join(".claims")), Vec::<String>::new());
        met += (ea + &eb).matches("claimed by another worker").count();
        if met > 0 {
            break;
        }
    }
    assert!(met > 0, "in 4 rounds the two workers never met on one video: the test tested nothing");
}

#[test]
fn a_claimed_video_waits_for_its_worker_and_a_dead_workers_claim_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 2);
    let out = t.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rel = Path::new("clips/v1.avi");

    // This test process holds v1's claim: the worker leaves v1 to it, and says so.
    let held = match claim::acquire(&out, rel, claim::DEFAULT_TIMEOUT).unwrap() {
        claim::Attempt::Held(c) => c,
        claim::Attempt::Busy(w) => panic!("{w}"),
    };
    let o = run_cmd(&input, &out, &[]).env("PRELABEL_LOG", "prelabel=info").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("clips/v1.avi: claimed by another worker"), "{}", stderr(&o));
    let r = json(&out.join("report.json"));
    assert_eq!(r["videos"][1]["status"], "claimed");
    assert!(r["videos"][1]["why"].as_str().unwrap().starts_with("claimed by other worker"), "{r}");
    assert_eq!(r["totals"]["claimed"], 1);
    assert!(!out.join("clips/v1.avi").exists());
    let (code, text) = report(&out, false);
    assert_eq!(code, 3, "not done while its worker has not finished: {text}");
    assert!(text.contains("missing") && text.contains("clips/v1.avi: claimed by other worker"), "{text}");
    drop(held);

    // A claim by a process of this host that has ended, and a killed attempt's folder.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let mut owner = Owner::me();
    owner.pid = pid;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let dead = ClaimFile { video: "clips/v1.avi".into(), owner, started_ms: now, heartbeat_ms: now, token: "deadbeef00".into() };
    let key = claim::key(rel);
    assert_eq!(names(&out.join(".claims")), Vec::<String>::new(), "released claims leave nothing");
    assert!(!out.join(".staging").exists(), "a finished run leaves no empty bookkeeping folders");
    std::fs::create_dir_all(out.join(".claims")).unwrap();
    std::fs::write(out.join(".claims").join(format!("{key}.claim")), serde_json::to_vec(&dead).unwrap()).unwrap();
    let debris = out.join(".staging").join(format!("{key}.{pid}.deadbeef00"));
    std::fs::create_dir_all(debris.join("yolo")).unwrap();
    std::fs::write(debris.join("mot.txt"), "half").unwrap();
    let o = run_cmd(&input, &out, &[]).env("PRELABEL_LOG", "prelabel=info").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("a process of this host that has ended"), "{}", stderr(&o));
    assert!(!debris.exists(), "the killed attempt's folder is cleaned up");
    assert!(out.join("clips/v1.avi/manifest.json").is_file());
    assert_eq!(report(&out, false).0, 0);

    // Another host's claim is live until its heartbeat is older than --claim-timeout.
    std::fs::remove_dir_all(out.join("clips/v1.avi")).unwrap();
    let mut far = dead.clone();
    far.owner.host = "node-elsewhere".into();
    far.heartbeat_ms -= 5_000;
    std::fs::create_dir_all(out.join(".claims")).unwrap();
    std::fs::write(out.join(".claims").join(format!("{key}.claim")), serde_json::to_vec(&far).unwrap()).unwrap();
    let o = run_cmd(&input, &out, &[]).output().unwrap();
    assert!(stderr(&o).contains("claimed by other worker (node-elsewhere"), "{}", stderr(&o));
    let o = run_cmd(&input, &out, &["--claim-timeout", "2s"]).env("PRELABEL_LOG", "prelabel=info").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("no heartbeat for"), "{}", stderr(&o));
    assert!(out.join("clips/v1.avi/manifest.json").is_file());
    assert_eq!(names(&out.join(".claims")), Vec::<String>::new());
}

#[test]
fn report_exit_status_tells_complete_failed_and_missing_apart_and_usage_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 4);
    std::fs::write(input.join("broken.avi"), b"not a video at all").unwrap();
    let out = t.join("out");
    // Only one shard of three ran: the others are missing.
    let o = run_cmd(&input, &out, &["--shard-count", "3", "--shard-index", "0"]).output().unwrap();
    assert!(matches!(o.status.code(), Some(0 | 2)), "{}", stderr(&o));
    let (code, text) = report(&out, true);
    assert_eq!(code, 3, "{text}");
    let s: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["verdict"], "incomplete");
    assert_eq!(s["shards_without_report"], serde_json::json!([1, 2]));
    // A resubmitted Slurm task sees SLURM_ARRAY_TASK_COUNT=1: the count comes from the flag.
    for i in 1..3 {
        let o = run_cmd(&input, &out, &["--shard-count", "3"])
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "1")
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0 | 2)), "{}", stderr(&o));
        assert!(out.join(format!("report.shard-{i}-of-3.json")).is_file());
    }
    // Everything ran; the broken file failed.
    let (code, text) = report(&out, false);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("failed") && text.contains("clips/broken.avi"), "{text}");
    assert!(text.contains("4 done") && text.contains("1 failed"), "{text}");
    // A manifest removed by hand: missing again, and the shard to run is named.
    let victim = out.join("clips/v2.avi/manifest.json");
    std::fs::remove_file(&victim).unwrap();
    let (code, text) = report(&out, true);
    assert_eq!(code, 3, "{text}");
    let s: Value = serde_json::from_str(&text).unwrap();
    let v2 = s["videos"].as_array().unwrap().iter().find(|v| v["folder"] == "clips/v2.avi").unwrap();
    assert_eq!(v2["state"], "missing");
    assert!(s["rerun_shards"].as_array().unwrap().contains(&v2["shard"]), "{s}");
    // Without the broken file and with the shard run again: complete.
    std::fs::remove_file(input.join("broken.avi")).unwrap();
    for i in 0..3 {
        assert!(run_cmd(&input, &out, &["--shard-count", "3", "--shard-index", &i.to_string()]).status().unwrap().success());
    }
    let (code, text) = report(&out, false);
    assert_eq!(code, 0, "{text}");

    // Usage errors.
    let bad: BTreeMap<&[&str], &str> = BTreeMap::from([
        (&["--shard-index", "1"][..], "--shard-index needs --shard-count"),
        (&["--shard-count", "0", "--shard-index", "0"][..], "--shard-count must be at least 1"),
        (&["--shard-count", "2", "--shard-index", "2"][..], "must be below --shard-count 2"),
        (&["--shard-count", "2"][..], "give the index, or run where SLURM_ARRAY_TASK_ID"),
        (&["--claim-timeout", "soon"][..], "give a number with s, m or h"),
    ]);
    for (args, msg) in bad {
        let o =
            run_cmd(&input, &t.join("never"), args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX").output().unwrap();
        assert!(matches!(o.status.code(), Some(1 | 2)), "{args:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
    let (code, text) = report(&t.join("clips"), false);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no report.json or report.shard-I-of-N.json"), "{text}");
}
