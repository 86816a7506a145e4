//! The Kubernetes Indexed Job in deploy/kubernetes/ is only validated, not run: no cluster
//! (kind, k3s, minikube, a kubelet) can be installed from the package registries. The schema
//! check is PyPI's `kubernetes-validate --strict` (offline, schemas included; without --strict
//! a misspelled field passes), against the newest Kubernetes it knows and against 1.33, the
//! first where backoffLimitPerIndex is GA. On top, the test reads the YAML and checks what a
//! schema cannot: the shard count prelabel is given equals `.spec.completions`, the shard index
//! is left to JOB_COMPLETION_INDEX, retries are per index, a GPU is asked for, and input and
//! output are on the shared volume.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const MANIFEST: &str = "deploy/kubernetes/prelabel-job.yaml";

/// `kubernetes-validate --strict [-k VERSION] FILE`: Ok or the validator's output.
fn validate(file: &Path, version: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(common::from_setup(".deps/venv-k8s/bin/kubernetes-validate"));
    cmd.arg("--strict");
    if let Some(v) = version {
        cmd.args(["-k", v]);
    }
    let o = cmd.arg(file).output().expect("kubernetes-validate runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if o.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

/// Every document of a YAML file, as JSON (read by PyYAML, from the validator's venv).
fn documents(file: &Path) -> Vec<Value> {
    let o = Command::new(common::from_setup(".deps/venv-k8s/bin/python"))
        .args(["-c", "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)"])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "cannot read {}: {}", file.display(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What the Job must say for prelabel's shards to be right; the first problem found.
fn check_job(docs: &[Value]) -> Result<(), String> {
    let job = docs.iter().find(|d| d["kind"] == "Job").ok_or("no Job in the manifest")?;
    let spec = &job["spec"];
    let pod = &spec["template"]["spec"];
    let want = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    want(spec["completionMode"] == "Indexed", "completionMode is not Indexed")?;
    let completions = spec["completions"].as_u64().ok_or("no .spec.completions")?;
    want(spec["parallelism"].as_u64().is_some_and(|p| p >= 1 && p <= completions), "parallelism must be 1..=completions")?;
    want(spec["backoffLimitPerIndex"].as_u64().is_some(), "no backoffLimitPerIndex: one failing shard would fail the Job")?;
    want(pod["restartPolicy"] == "Never", "backoffLimitPerIndex needs restartPolicy: Never")?;
    want(spec["podReplacementPolicy"] == "Failed", "podReplacementPolicy is not Failed")?;

    let containers = pod["containers"].as_array().ok_or("no containers")?;
    let c = containers
        .iter()
        .find(|c| c["args"].as_array().is_some_and(|a| a.first() == Some(&"run".into())))
        .ok_or("no container runs `prelabel run`")?;
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap_or("")).collect();
    let after = |flag: &str| args.iter().position(|a| *a == flag).and_then(|i| args.get(i + 1)).copied();
    let count = after("--shard-count").ok_or("no --shard-count in the args")?;
    want(count.parse::<u64>().ok() == Some(completions), &format!("--shard-count {count} is not .spec.completions ({completions})"))?;
    // The index is JOB_COMPLETION_INDEX, set per pod; a fixed one would label one shard N times.
    want(after("--shard-index").is_none_or(|i| i == "$(JOB_COMPLETION_INDEX)"), "--shard-index is fixed in the args")?;
    want(c["resources"]["limits"]["nvidia.com/gpu"].as_u64() == Some(1), "no nvidia.com/gpu: 1 limit")?;

    // Input and output on a mounted persistent volume claim.
    let claims: Vec<&str> = pod["volumes"]
        .as_array()
        .ok_or("no volumes")?
        .iter()
        .filter(|v| v["persistentVolumeClaim"]["claimName"].is_string())
        .map(|v| v["name"].as_str().unwrap_or(""))
        .collect();
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .ok_or("no volumeMounts")?
        .iter()
        .filter(|m| claims.contains(&m["name"].as_str().unwrap_or("")))
        .map(|m| m["mountPath"].as_str().unwrap_or(""))
        .collect();
    let on_claim = |p: &str| mounts.iter().any(|m| Path::new(p).starts_with(m));
    let out = after("--out").ok_or("no --out in the args")?;
    want(on_claim(out), &format!("--out {out} is not on a persistent volume claim"))?;
    let input = args.get(1).copied().unwrap_or("");
    want(on_claim(input), &format!("the input {input} is not on a persistent volume claim"))?;
    Ok(())
}

#[test]
fn indexed_job_manifest_validates_strictly() {
    let file = common::repo().join(MANIFEST);
    validate(&file, None).unwrap_or_else(|e| panic!("{MANIFEST} does not validate:\n{e}"));
    validate(&file, Some("1.33.0")).unwrap_or_else(|e| panic!("{MANIFEST} does not validate against 1.33:\n{e}"));

    // The validator does fail: the same manifest with one field misspelt.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&bad, text.replace("backoffLimitPerIndex:", "backoffLimitPerIndx:")).unwrap();
    let err = validate(&bad, None).expect_err("a misspelt field passed --strict");
    assert!(err.contains("backoffLimitPerIndx"), "{err}");
}

#[test]
fn indexed_job_shards_match_its_completions() {
    let docs = documents(&common::repo().join(MANIFEST));
    check_job(&docs).unwrap_or_else(|e| panic!("{MANIFEST}: {e}"));

    // And the check does catch a mismatch, or a fixed index.
    let mut wrong = docs.clone();
    let job = wrong.iter_mut().find(|d| d["kind"] == "Job").unwrap();
    let n = job["spec"]["completions"].as_u64().unwrap();
    job["spec"]["completions"] = (n + 1).into();
    let err = check_job(&wrong).expect_err("a --shard-count that is not .spec.completions passed");
    assert!(err.contains("--shard-count"), "{err}");
    let mut fixed = docs.clone();
    let job = fixed.iter_mut().find(|d| d["kind"] == "Job").unwrap();
    let args = job["spec"]["template"]["spec"]["containers"][0]["args"].as_array_mut().unwrap();
    args.extend(["--shard-index".into(), "0".into()]);
    assert!(check_job(&fixed).is_err_and(|e| e.contains("--shard-index")));
}
