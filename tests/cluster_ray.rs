//! prelabel on a real Ray cluster: a local Ray head (`ray[default]` from PyPI, in the venv
//! `scripts/setup.sh --tests` makes) is started here on free localhost ports with a temporary
//! folder, and `deploy/ray/prelabel_ray.py` fans 3 shards out as Ray tasks. Shard 1 fails its
//! first two attempts: with `--retries 0` the launcher must exit non-zero with the job
//! incomplete; run again with retries, Ray retries shard 1 until it passes, the launcher exits
//! with `prelabel report`'s 0, and every video is labelled exactly once (the shards that were
//! done skip their videos). The head is `ray start --block` in its own process group: the test
//! stops it by that PID (SIGTERM: it stops the processes it started), then kills whatever is
//! left in the group. It never runs `ray stop`, which stops every Ray on the machine.

mod cluster;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cluster::{both, Daemons, SHARDS};

/// Starts a Ray head with 2 CPUs; returns its GCS address.
fn start_head(ray: &Path, temp: &Path, daemons: &mut Daemons) -> String {
    let port = cluster::free_port();
    let log = temp.join("head.log");
    let mut cmd = Command::new(ray);
    cmd.args(["start", "--head", "--block", "--num-cpus", "2", "--num-gpus", "0", "--disable-usage-stats"])
        .args(["--include-dashboard", "false", "--node-ip-address", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--ray-client-server-port", &cluster::free_port().to_string()])
        .arg("--temp-dir")
        .arg(temp.join("ray"));
    // Up to 30 s to drain running tasks on SIGTERM; there are none left when the test stops it.
    daemons.start("ray head", cmd, &log, Duration::from_secs(40), true);
    cluster::wait_for("the Ray head", Duration::from_secs(120), || {
        daemons.assert_running("ray head", &log);
        std::fs::read_to_string(&log).unwrap_or_default().contains("Ray runtime started")
    });
    format!("127.0.0.1:{port}")
}

/// `prelabel_ray.py --address A --shards 3 --prelabel P --out OUT CLIPS -- <fast options>`.
fn launch(python: &Path, address: &str, prelabel: &Path, retries: u32, clips: &Path, out: &Path) -> Output {
    cluster::output(
        Command::new(python)
            .arg(common::repo().join("deploy/ray/prelabel_ray.py"))
            .args(["--address", address, "--shards", &SHARDS.to_string(), "--retries", &retries.to_string()])
            .arg("--prelabel")
            .arg(prelabel)
            .arg("--out")
            .arg(out)
            .arg(clips)
            .arg("--")
            .args(cluster::fast_options()),
    )
}

#[test]
fn ray_launcher_retries_a_failing_shard_and_labels_every_video_once() {
    let t0 = Instant::now();
    let ray = common::from_setup(".deps/venv-ray/bin/ray");
    let python: PathBuf = common::from_setup(".deps/venv-ray/bin/python");
    // Short: Ray's unix socket paths under it must stay under 108 bytes.
    let tmp = tempfile::Builder::new().prefix("ray").tempdir_in("/tmp").unwrap();
    let dir = tmp.path();
    let (clips, out) = (dir.join("clips"), dir.join("labels"));
    cluster::make_clips(&clips);
    let prelabel = cluster::flaky_prelabel(dir, 1, 2);

    let mut daemons = Daemons::default();
    let address = start_head(&ray, dir, &mut daemons);
    let started = t0.elapsed();

    // No retries: shard 1 fails once and the job is incomplete.
    let first = launch(&python, &address, &prelabel, 0, &clips, &out);
    // The launcher exits with `prelabel report`'s status: 3, incomplete.
    assert_eq!(first.status.code(), Some(3), "the launcher with shard 1 failed:\n{}", both(&first));
    assert!(both(&first).contains("failed shards: 1"), "{}", both(&first));
    cluster::assert_incomplete_without(&out, 1);
    let done = cluster::labelled(&out);
    assert!(!done.is_empty() && done.len() < cluster::CLIPS.len(), "shards 0 and 2 label some, not all: {done:?}");

    // With retries: shard 1 fails once more, then Ray's retry labels it.
    let second = launch(&python, &address, &prelabel, 2, &clips, &out);
    assert!(second.status.success(), "the launcher with retries:\n{}", both(&second));
    cluster::assert_complete(&out);
    cluster::assert_each_labelled_once(&clips, &out);
    let last = cluster::labelled(&out);
    for (rel, when) in &done {
        assert_eq!(last.get(rel), Some(when), "{rel} was labelled again by the second run");
    }
    // Shards 0 and 2: once per run (the second skips their videos); shard 1: 1 + 2 attempts.
    let tries = cluster::attempts(dir);
    assert_eq!(tries.into_iter().collect::<Vec<_>>(), [("0".into(), 2), ("1".into(), 3), ("2".into(), 2)]);
    let jobs = t0.elapsed() - started;

    let stopped = daemons.stop();
    eprintln!("ray: head up in {started:.1?}, both runs {jobs:.1?}, stopped in {stopped:.1?}, total {:.1?}", t0.elapsed());
}
