//! Shards: several workers each take a stable share of one job's inputs
//! (`--shard-index I --shard-count N`).
//!
//! A video belongs to shard `sha256(its output folder relative to --out) mod N`: the share
//! depends on what the video is, never on its place in the list, so adding files to a folder
//! never moves the others to another shard. The count always comes from the flag (a Slurm task
//! resubmitted alone sees `SLURM_ARRAY_TASK_COUNT=1`); the index from the flag, else
//! `SLURM_ARRAY_TASK_ID`, else `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job).
//! Each shard writes its own report, `report.shard-I-of-N.json`; `prelabel report` merges them.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where the index may come from when `--shard-index` is absent, in this order.
pub(crate) const INDEX_VARIABLES: &[&str] = &["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// The report of an unsharded run.
pub(crate) const REPORT: &str = "report.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    /// `--shard-index` or the environment variable the index was read from.
    pub index_from: String,
}

impl Shard {
    /// The shard from the flags and, for the index only, the environment (`var` reads a
    /// variable). None without `--shard-count`: an unsharded run, whatever the environment says.
    pub fn resolve(index: Option<u32>, count: Option<u32>, var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let Some(count) = count else {
            if index.is_some() {
                return Err(Error::Usage("--shard-index needs --shard-count (the number of shards of the whole job)".into()));
            }
            return Ok(None);
        };
        if count == 0 {
            return Err(Error::Usage("--shard-count must be at least 1".into()));
        }
        let (index, from) = match index {
            Some(i) => (i, "--shard-index".to_string()),
            None => {
                let found = INDEX_VARIABLES.iter().find_map(|v| var(v).map(|value| (*v, value)));
                let Some((name, value)) = found else {
                    return Err(Error::Usage(format!(
                        "--shard-count {count} without --shard-index: give the index, or run where {} is set",
                        INDEX_VARIABLES.join(" or ")
                    )));
                };
                let i = value
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| Error::Usage(format!("{name}={value:?} is not a shard index (a whole number from 0)")))?;
                (i, name.to_string())
            }
        };
        if index >= count {
            let hint = if from.starts_with("SLURM") { " (number the array from 0: sbatch --array=0-N-1)" } else { "" };
            return Err(Error::Usage(format!(
                "shard index {index} (from {from}) must be below --shard-count {count}: shards are numbered 0 to {}{hint}",
                count - 1
            )));
        }
        Ok(Some(Shard { index, count, index_from: from }))
    }

    /// Whether the video whose output folder is `rel_out` belongs to this shard.
    pub fn takes(&self, rel_out: &Path) -> bool {
        shard_of(rel_out, self.count) == self.index
    }

    /// This shard's report file name in `--out`.
    pub fn report_name(&self) -> String {
        format!("report.shard-{}-of-{}.json", self.index, self.count)
    }
}

/// The shard (0..count) of the video whose output folder is `rel_out`.
pub(crate) fn shard_of(rel_out: &Path, count: u32) -> u32 {
    let d = Sha256::digest(rel_out.as_os_str().as_bytes());
    let h = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (h % count.max(1) as u64) as u32
}

impl From<&Shard> for super::report::ShardInfo {
    fn from(s: &Shard) -> Self {
        super::report::ShardInfo { index: s.index, count: s.count, index_from: s.index_from.clone() }
    }
}

/// The report file of a run: `report.json`, or `report.shard-I-of-N.json` for a shard.
pub fn report_name(shard: Option<&Shard>) -> String {
    shard.map_or_else(|| REPORT.to_string(), Shard::report_name)
}

/// `Some((index, count))` for a shard report's file name, `Some((0, 1))` for `report.json`.
pub fn parse_report_name(name: &str) -> Option<(u32, u32)> {
    if name == REPORT {
        return Some((0, 1));
    }
    let rest = name.strip_prefix("report.shard-")?.strip_suffix(".json")?;
    let (i, n) = rest.split_once("-of-")?;
    let (i, n) = (i.parse().ok()?, n.parse().ok()?);
    (i < n).then_some((i, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn index_from_flag_then_slurm_then_kubernetes_count_only_from_flag() {
        let none = env(&[]);
        assert_eq!(Shard::resolve(None, None, &none).unwrap(), None);
        // The environment alone never shards.
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("JOB_COMPLETION_INDEX", "1")]);
        assert_eq!(Shard::resolve(None, None, &slurm).unwrap(), None);
        let s = Shard::resolve(None, Some(3), &slurm).unwrap().unwrap();
        assert_eq!((s.index, s.count, s.index_from.as_str()), (2, 3, "SLURM_ARRAY_TASK_ID"));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        let s = Shard::resolve(None, Some(3), &k8s).unwrap().unwrap();
        assert_eq!((s.index, s.index_from.as_str()), (1, "JOB_COMPLETION_INDEX"));
        let s = Shard::resolve(Some(0), Some(3), &slurm).unwrap().unwrap();
        assert_eq!((s.index, s.index_from.as_str()), (0, "--shard-index"));
        assert_eq!(s.report_name(), "report.shard-0-of-3.json");
    }

    #[test]
    fn bad_combinations_are_usage_errors() {
        let none = env(&[]);
        let msg = |r: Result<Option<Shard>>| r.unwrap_err().to_string();
        assert!(msg(Shard::resolve(Some(1), None, &none)).contains("needs --shard-count"));
        assert!(msg(Shard::resolve(Some(0), Some(0), &none)).contains("at least 1"));
        assert!(msg(Shard::resolve(Some(3), Some(3), &none)).contains("must be below --shard-count 3"));
        assert!(msg(Shard::resolve(None, Some(3), &none)).contains("SLURM_ARRAY_TASK_ID"));
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "3")]);
        assert!(msg(Shard::resolve(None, Some(3), &slurm)).contains("--array=0-"));
        let junk = env(&[("JOB_COMPLETION_INDEX", "x")]);
        assert!(msg(Shard::resolve(None, Some(3), &junk)).contains("not a shard index"));
    }

    #[test]
    fn shares_are_stable_cover_everything_and_do_not_move_when_files_are_added() {
        let names: Vec<PathBuf> = (0..300).map(|i| PathBuf::from(format!("cam{}/clip{i}.mp4", i % 7))).collect();
        let before: Vec<u32> = names.iter().map(|n| shard_of(n, 4)).collect();
        // Every shard gets a fair share.
        for s in 0..4 {
            let n = before.iter().filter(|&&x| x == s).count();
            assert!((45..=105).contains(&n), "shard {s}: {n} of 300");
        }
        // Position in the list plays no part: the same name, the same shard, whatever else is there.
        let mut more = names.clone();
        more.insert(0, "cam0/new.mp4".into());
        more.reverse();
        for n in &names {
            assert_eq!(shard_of(n, 4), before[names.iter().position(|x| x == n).unwrap()]);
        }
        // Known values (sha256's first 8 bytes, big-endian, mod N; checked with Python's
        // hashlib), so the assignment never changes silently between versions.
        assert_eq!(shard_of(Path::new("camA/clip.mp4"), 1000), 819);
        assert_eq!(shard_of(Path::new("camB/clip.mp4"), 1000), 653);
        assert_eq!(shard_of(Path::new("x"), 1), 0);
    }

    #[test]
    fn report_names_round_trip() {
        assert_eq!(parse_report_name("report.json"), Some((0, 1)));
        assert_eq!(parse_report_name("report.shard-2-of-3.json"), Some((2, 3)));
        assert_eq!(parse_report_name("report.shard-3-of-3.json"), None);
        assert_eq!(parse_report_name("report.shard-x-of-3.json"), None);
        assert_eq!(parse_report_name("reports.json"), None);
    }
}
