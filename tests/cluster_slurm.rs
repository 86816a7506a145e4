//! prelabel on a real Slurm cluster: a single-node cluster from Debian's `slurm-wlm` and
//! `munge` (installed by `scripts/setup.sh --tests`) is configured in a temporary folder and
//! started here (munged, slurmctld, slurmd, in the foreground: no systemd, nothing in /etc),
//! then `sbatch --array=0-2 deploy/slurm/prelabel.sbatch` labels a folder of clips in 3 shards.
//! Shard 1 fails its first attempt; `prelabel report` must then say the job is incomplete,
//! Slurm must show index 1 as the failed one, and resubmitting `--array=1` alone (which sees
//! SLURM_ARRAY_TASK_COUNT=1: the count comes from the script's --shard-count) completes the
//! job with every video labelled exactly once. The daemons are stopped by their PIDs.
//! The node declares one GPU (a stand-in device file), so the script's `--gpus=1` is honoured.

mod cluster;
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{both, Daemons, SHARDS};

/// Whether Slurm is installed and the test runs as root; if not, records why it does not run.
fn slurm_available() -> bool {
    let missing: Vec<&str> = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!("Slurm is not installed ({} missing): run scripts/setup.sh --tests", missing.join(", "));
        eprintln!("\n*** SKIPPED: {why} ***\n");
        common::skipped(&why);
        return false;
    }
    // slurmd runs jobs as their user, so it must run as root (CI and set-up do).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next().map(str::to_string));
    if uid.as_deref() != Some("0") {
        let why = "the Slurm test starts slurmd, which needs root (uid 0)".to_string();
        eprintln!("\n*** SKIPPED: {why} ***\n");
        common::skipped(&why);
        return false;
    }
    true
}

/// slurm.conf for one node, `localhost`, with 2 CPUs and one GPU; every path in `dir`.
fn slurm_conf(dir: &Path, ctld_port: u16, slurmd_port: u16) -> String {
    let d = dir.display();
    format!(
        "ClusterName=prelabeltest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge.sock
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"
    )
}

/// Writes the configuration, starts munged, slurmctld and slurmd, and waits for the node to
/// be idle.
fn start_cluster(dir: &Path, daemons: &mut Daemons) {
    for sub in ["state", "spool", "log"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = dir.join("slurm.conf");
    std::fs::write(&conf, slurm_conf(dir, cluster::free_port(), cluster::free_port())).unwrap();
    // A GPU slurmd can hand out: any character device will do; Slurm then sets
    // CUDA_VISIBLE_DEVICES for the task as it would on a GPU node.
    std::fs::write(dir.join("gres.conf"), "NodeName=localhost Name=gpu File=/dev/null\n").unwrap();

    // munge with a key and socket of its own, so it neither needs nor disturbs /etc/munge.
    let mut key = vec![0u8; 1024];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut key).unwrap();
    let key_file = dir.join("munge.key");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut munged = Command::new("/usr/sbin/munged");
    munged.args(["--foreground", "--force"]).arg(format!("--socket={}/munge.sock", dir.display()));
    for (opt, file) in [("key-file", "munge.key"), ("pid-file", "munged.pid"), ("log-file", "log/munged.log"), ("seed-file", "munged.seed")]
    {
        munged.arg(format!("--{opt}={}", dir.join(file).display()));
    }
    let munged_log = dir.join("log/munged.out");
    daemons.start("munged", munged, &munged_log, Duration::from_secs(5), false);
    cluster::wait_for("munged's socket", Duration::from_secs(20), || {
        daemons.assert_running("munged", &munged_log);
        dir.join("munge.sock").exists()
    });

    // -D: stay in the foreground, so the PID the test holds is the daemon's; -i: ignore any
    // saved state. slurmd is told its node name: the machine's host name is not `localhost`.
    let mut ctld = Command::new("/usr/sbin/slurmctld");
    ctld.args(["-D", "-i"]).env("SLURM_CONF", &conf);
    let ctld_log = dir.join("log/slurmctld.out");
    daemons.start("slurmctld", ctld, &ctld_log, Duration::from_secs(15), false);
    let mut slurmd = Command::new("/usr/sbin/slurmd");
    slurmd.args(["-D", "-N", "localhost"]).env("SLURM_CONF", &conf);
    let slurmd_log = dir.join("log/slurmd.out");
    daemons.start("slurmd", slurmd, &slurmd_log, Duration::from_secs(15), false);

    cluster::wait_for("the Slurm node to be idle", Duration::from_secs(60), || {
        daemons.assert_running("slurmctld", &ctld_log);
        daemons.assert_running("slurmd", &slurmd_log);
        let s = Command::new("sinfo").args(["-h", "-n", "localhost", "-o", "%T"]).env("SLURM_CONF", &conf).output().unwrap();
        String::from_utf8_lossy(&s.stdout).trim() == "idle"
    });
}

/// `sbatch --wait [extra] deploy/slurm/prelabel.sbatch clips out <fast options>`, run in `dir`
/// with PRELABEL pointing at `prelabel`; returns the exit code and the array job's id.
fn sbatch(dir: &Path, prelabel: &Path, extra: &[&str], clips: &Path, out: &Path) -> (i32, String) {
    let script = common::repo().join("deploy/slurm/prelabel.sbatch");
    let o = cluster::output(
        Command::new("sbatch")
            .arg("--wait")
            .args(extra)
            .arg(format!("--output={}/log/job-%A_%a.log", dir.display()))
            .arg(&script)
            .arg(clips)
            .arg(out)
            .args(cluster::fast_options())
            .current_dir(dir)
            .env("SLURM_CONF", dir.join("slurm.conf"))
            .env("PRELABEL", prelabel),
    );
    let text = both(&o);
    let id = text.split_whitespace().skip_while(|w| *w != "job").nth(1).unwrap_or_else(|| panic!("no job id in: {text}"));
    (o.status.code().unwrap_or(-1), id.to_string())
}

/// The array indices of job `id` that Slurm reports FAILED (`scontrol show job`: without
/// slurmdbd there is no sacct).
fn failed_indices(dir: &Path, id: &str) -> Vec<String> {
    let o = cluster::output(Command::new("scontrol").args(["show", "job", id]).env("SLURM_CONF", dir.join("slurm.conf")));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut failed = Vec::new();
    // One record per array task, separated by blank lines.
    for rec in text.split("\n\n") {
        let field = |k: &str| rec.split_whitespace().find_map(|w| w.strip_prefix(k)).map(str::to_string);
        if field("JobState=").as_deref() == Some("FAILED") {
            failed.push(field("ArrayTaskId=").unwrap_or_default());
        }
    }
    failed.sort();
    failed
}

/// The job logs, for failure messages.
fn job_logs(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir.join("log")).unwrap().flatten() {
        all += &format!("--- {}\n{}\n", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    all
}

#[test]
fn sbatch_array_labels_every_video_once_after_a_failed_shard_is_resubmitted() {
    if !slurm_available() {
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (clips, out) = (dir.join("clips"), dir.join("labels"));
    cluster::make_clips(&clips);
    let prelabel = cluster::flaky_prelabel(dir, 1, 1);

    let mut daemons = Daemons::default();
    start_cluster(dir, &mut daemons);
    let started = t0.elapsed();

    // The whole array: shard 1 fails.
    let (code, id) = sbatch(dir, &prelabel, &[&format!("--array=0-{}", SHARDS - 1)], &clips, &out);
    assert_ne!(code, 0, "sbatch --wait must report the failed task\n{}", job_logs(dir));
    assert_eq!(failed_indices(dir, &id), ["1"], "\n{}", job_logs(dir));
    cluster::assert_incomplete_without(&out, 1);
    let first = cluster::labelled(&out);
    assert!(!first.is_empty() && first.len() < cluster::CLIPS.len(), "shards 0 and 2 label some, not all: {first:?}");

    // Resubmit the failed index alone.
    let (code, _) = sbatch(dir, &prelabel, &["--array=1"], &clips, &out);
    assert_eq!(code, 0, "the resubmitted shard failed\n{}", job_logs(dir));
    cluster::assert_complete(&out);
    cluster::assert_each_labelled_once(&clips, &out);
    // What shards 0 and 2 labelled was not labelled again.
    let last = cluster::labelled(&out);
    for (rel, when) in &first {
        assert_eq!(last.get(rel), Some(when), "{rel} was labelled again by the resubmitted shard");
    }
    let tries = cluster::attempts(dir);
    assert_eq!(tries.into_iter().collect::<Vec<_>>(), [("0".into(), 1), ("1".into(), 2), ("2".into(), 1)]);
    let jobs = t0.elapsed() - started;

    let stopped = daemons.stop();
    eprintln!("slurm: cluster up in {started:.1?}, both submissions {jobs:.1?}, stopped in {stopped:.1?}, total {:.1?}", t0.elapsed());
}
