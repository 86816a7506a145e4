//! `prelabel serve`'s HTTP side in process, without Label Studio or a model: bad requests of
//! many kinds each get a 4xx with a JSON error and the server keeps serving; the queue labels
//! every video once, answers from disk after that (also after a restart), sends predictions
//! finished after their request answered to Label Studio's API exactly once per task, and a
//! video that fails fails only its task.
//!
//! The labeling itself is a test labeler (the real one, `prelabel run`'s engine, is checked
//! against a real Label Studio in `serve/labelstudio.rs`): it writes a fixed
//! `labelstudio.json` per video (a person track and a bus track), after a delay, and counts
//! the videos it labels. A video named `corrupt*` fails.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prelabel::batch::report::{Status, VideoReport};
use prelabel::batch::Progress;
use prelabel::serve::{Access, Auth, Labeler, ServeConfig, Server};
use serde_json::{json, Value};

const CONFIG: &str = r#"<View><Labels name="l" toName="v"><Label value="person"/><Label value="dog"/></Labels><Video name="v" value="$video"/><VideoRectangle name="r" toName="v"/></View>"#;

/// Videos labelled, by file name, in the order they were.
type Seen = Arc<Mutex<Vec<String>>>;

struct Canned {
    seen: Seen,
    delay: Duration,
}

impl Labeler for Canned {
    fn label(&mut self, videos: &[PathBuf], out: &Path, _cancel: &AtomicBool, progress: &dyn Progress) -> prelabel::error::Result<()> {
        std::thread::sleep(self.delay);
        for (n, v) in videos.iter().enumerate() {
            let name = v.file_name().unwrap().to_string_lossy().into_owned();
            self.seen.lock().unwrap().push(name.clone());
            let dir = out.join(&name);
            let report = if name.starts_with("corrupt") {
                VideoReport::without_labels(v, &dir, Status::Failed, Some(format!("{name}: Invalid data found when processing input")))
            } else {
                std::fs::create_dir_all(&dir).unwrap();
                let region = |id: u32, label: &str| {
                    json!({"id": format!("track-{id}"), "type": "videorectangle", "from_name": "box", "to_name": "video",
                           "origin": "prediction", "score": 0.9,
                           "value": {"framesCount": 3, "duration": 0.3, "labels": [label],
                                     "sequence": [{"frame": 1, "enabled": false, "rotation": 0, "x": 1.0, "y": 2.0, "width": 3.0, "height": 4.0, "time": 0.0}]}})
                };
                let tasks = json!([{"data": {"video": name}, "predictions": [{"model_version": "x", "score": 0.9, "result": [region(1, "person"), region(2, "bus")]}]}]);
                std::fs::write(dir.join("labelstudio.json"), tasks.to_string()).unwrap();
                VideoReport::without_labels(v, &dir, Status::Ok, None)
            };
            progress.video_finished(n + 1, &report);
        }
        Ok(())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
}

fn setup(videos: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for (i, v) in videos.iter().enumerate() {
        // Different content: each its own fingerprint.
        std::fs::write(root.join(v), format!("video {i} {v}").repeat(10)).unwrap();
    }
    std::fs::write(dir.path().join("secret.mp4"), b"outside the root").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.mp4"), root.join("link.mp4")).unwrap();
    Setup { cache: dir.path().join("cache"), root, _dir: dir }
}

fn config(s: &Setup) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: Some(s.root.clone()),
        cache: s.cache.clone(),
        auth: Auth::default(),
        max_body: 2 << 20,
        wait: Duration::from_secs(20),
        queue: 100,
        label_studio: None,
        model_version: "prelabel-test m s".into(),
        settings_sha256: "0123456789abcdef0123456789abcdef".into(),
        known_labels: ["person", "bus", "car"].into_iter().map(String::from).collect(),
    }
}

async fn start(config: ServeConfig, seen: &Seen, delay: Duration) -> Server {
    let seen = seen.clone();
    Server::start(config, Box::new(move || Ok(Box::new(Canned { seen, delay }) as Box<dyn Labeler>))).await.unwrap()
}

fn task(id: u64, video: &str) -> Value {
    json!({"id": id, "data": {"video": format!("/data/local-files/?d={video}")}})
}

fn predict_body(tasks: Vec<Value>) -> Value {
    json!({"tasks": tasks, "project": "1.1700000000", "label_config": CONFIG, "params": {"login": null, "password": null, "context": null}})
}

async fn post(server: &Server, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = reqwest::Client::new().post(format!("http://{}{path}", server.addr)).body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: HTTP {status}, not JSON: {text:?}")))
}

async fn healthy(server: &Server) {
    let resp = reqwest::get(format!("http://{}/health", server.addr)).await.expect("the server still answers");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "UP");
}

/// Sends `request` as raw bytes over one connection (for what an HTTP client will not send)
/// and gives the answer. The answer is read while the request is written: a server may
/// answer (413) and close before the whole request is sent, and the rest of it then fails
/// to go out, which is the point.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = s.try_clone().unwrap();
    let read = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        out
    });
    for chunk in request.chunks(64 << 10) {
        if s.write_all(chunk).is_err() {
            break;
        }
    }
    String::from_utf8_lossy(&read.join().unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_json_4xx_and_the_server_keeps_serving() {
    let s = setup(&["clip.mp4"]);
    let seen = Seen::default();
    let server = start(config(&s), &seen, Duration::ZERO).await;
    let good = || predict_body(vec![task(1, "clip.mp4")]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good();
        f(&mut b);
        b.to_string().into_bytes()
    };
    let no_known = CONFIG.replace("\"person\"", "\"cat\"");
    let many: Vec<Value> = (0..10_001).map(|i| json!({"id": i, "data": {}})).collect();
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("empty body", "/predict", vec![], 400, "no body"),
        ("not JSON", "/predict", b"{\"tasks\": [".to_vec(), 400, "not JSON"),
        ("not UTF-8", "/predict", b"\xff\xfe{}".to_vec(), 400, "not JSON"),
        ("a list, not an object", "/predict", b"[1, 2]".to_vec(), 400, "not a JSON object"),
        ("no tasks", "/predict", with(&|b| drop(b.as_object_mut().unwrap().remove("tasks"))), 400, "tasks: missing"),
        ("tasks a string", "/predict", with(&|b| b["tasks"] = json!("clip.mp4")), 400, "tasks: expected a list"),
        ("no task", "/predict", with(&|b| b["tasks"] = json!([])), 400, "empty"),
        ("too many tasks", "/predict", with(&|b| b["tasks"] = json!(many)), 400, "more than"),
        ("task a number", "/predict", with(&|b| b["tasks"] = json!([7])), 400, "tasks[0]: expected an object"),
        ("no id", "/predict", with(&|b| drop(b["tasks"][0].as_object_mut().unwrap().remove("id"))), 400, "tasks[0].id: missing"),
        ("id a string", "/predict", with(&|b| b["tasks"][0]["id"] = json!("1")), 400, "tasks[0].id: expected"),
        ("id negative", "/predict", with(&|b| b["tasks"][0]["id"] = json!(-3)), 400, "tasks[0].id: expected"),
        ("id fractional", "/predict", with(&|b| b["tasks"][0]["id"] = json!(1.5)), 400, "tasks[0].id: expected"),
        ("no data", "/predict", with(&|b| drop(b["tasks"][0].as_object_mut().unwrap().remove("data"))), 400, "tasks[0].data: missing"),
        ("data a list", "/predict", with(&|b| b["tasks"][0]["data"] = json!(["clip.mp4"])), 400, "expected an object"),
        (
            "unknown data key",
            "/predict",
            with(&|b| b["tasks"][0]["data"] = json!({"image": "/data/local-files/?d=clip.mp4"})),
            400,
            "no \"video\" key",
        ),
        ("video a number", "/predict", with(&|b| b["tasks"][0]["data"]["video"] = json!(3)), 400, "expected the video's URL"),
        ("video null", "/predict", with(&|b| b["tasks"][0]["data"]["video"] = Value::Null), 400, "expected the video's URL"),
        ("dot-dot path", "/predict", with(&|b| b["tasks"][0] = task(1, "../secret.mp4")), 400, "'..'"),
        ("escaped dot-dot", "/predict", with(&|b| b["tasks"][0] = task(1, "sub/%2E%2E/%2e%2e/secret.mp4")), 400, "'..'"),
        ("absolute path", "/predict", with(&|b| b["tasks"][0] = task(1, "%2Fetc%2Fpasswd")), 400, "absolute"),
        ("link out of the root", "/predict", with(&|b| b["tasks"][0] = task(1, "link.mp4")), 403, "leaves the video root"),
        ("s3 URL", "/predict", with(&|b| b["tasks"][0]["data"]["video"] = json!("s3://bucket/clip.mp4")), 400, "s3://"),
        ("file URL", "/predict", with(&|b| b["tasks"][0]["data"]["video"] = json!("file:///etc/passwd")), 400, "file://"),
        (
            "no d= parameter",
            "/predict",
            with(&|b| b["tasks"][0]["data"]["video"] = json!("/data/local-files/?x=clip.mp4")),
            400,
            "d= parameter",
        ),
        (
            "other host's page",
            "/predict",
            with(&|b| b["tasks"][0]["data"]["video"] = json!("http://example.com/clip.mp4")),
            400,
            "not a Label Studio",
        ),
        ("no label_config", "/predict", with(&|b| drop(b.as_object_mut().unwrap().remove("label_config"))), 400, "label_config: missing"),
        ("label_config a number", "/predict", with(&|b| b["label_config"] = json!(1)), 400, "label_config: expected"),
        ("label_config not XML", "/predict", with(&|b| b["label_config"] = json!("<View><Video")), 422, "well-formed"),
        (
            "label_config for images",
            "/predict",
            with(&|b| b["label_config"] = json!("<View><Image name=\"i\" value=\"$image\"/></View>")),
            422,
            "no <Video>",
        ),
        (
            "no label prelabel draws",
            "/predict",
            with(&|b| b["label_config"] = json!(no_known)),
            422,
            "none of the labeling config's labels",
        ),
        ("project a number", "/predict", with(&|b| b["project"] = json!(5)), 400, "project: expected a string"),
        ("params a string", "/predict", with(&|b| b["params"] = json!("x")), 400, "params: expected an object"),
        ("setup without schema", "/setup", br#"{"project": "1.1"}"#.to_vec(), 400, "schema: missing"),
        (
            "setup, schema with no label prelabel draws",
            "/setup",
            json!({"schema": no_known}).to_string().into_bytes(),
            422,
            "none of the labeling",
        ),
        (
            "setup, hostname a list",
            "/setup",
            json!({"schema": CONFIG, "hostname": []}).to_string().into_bytes(),
            400,
            "hostname: expected a string",
        ),
        ("webhook not JSON", "/webhook", b"action=TASKS_CREATED".to_vec(), 400, "not JSON"),
        ("webhook without action", "/webhook", b"{\"project\": {}}".to_vec(), 400, "action: missing"),
        ("unknown route", "/train", b"{}".to_vec(), 404, "no such route"),
    ];
    let mut kinds = BTreeSet::new();
    for (what, path, body, status, says) in cases {
        let (got, json) = post(&server, path, body).await;
        assert_eq!(got, status, "{what}: {json}");
        let error = json["error"].as_str().unwrap_or_else(|| panic!("{what}: no error message in {json}"));
        assert!(error.contains(says), "{what}: {error:?} does not say {says:?}");
        assert_eq!(json["status"], status, "{what}");
        healthy(&server).await;
        kinds.insert(what);
    }
    // What reqwest will not send (or not read the answer of: the server refuses a body over
    // --max-body before reading it all, and closes): a wrong method, a body declared larger
    // than the limit, a chunked body growing past it, bytes that are not HTTP.
    let resp = reqwest::Client::new().get(format!("http://{}/predict", server.addr)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert!(resp.text().await.unwrap().contains("\"error\""));
    let addr = server.addr;
    let answers = tokio::task::spawn_blocking(move || {
        let declared = raw(addr, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n{");
        let mut chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for _ in 0..5 {
            chunked.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
            chunked.extend(std::iter::repeat_n(b' ', 1 << 20));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let garbage = raw(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n");
        (declared, raw(addr, &chunked), garbage)
    })
    .await
    .unwrap();
    assert!(answers.0.starts_with("HTTP/1.1 413") && answers.0.contains("larger than this server reads"), "{}", answers.0);
    assert!(answers.1.starts_with("HTTP/1.1 413") && answers.1.contains("\"error\""), "{}", answers.1);
    assert!(answers.2.is_empty() || answers.2.starts_with("HTTP/1.1 4"), "{}", answers.2);
    healthy(&server).await;
    assert!(kinds.len() + 4 >= 20, "{} kinds", kinds.len() + 4);

    // And a good request still gets its predictions: person kept (named after the
    // project's controls), bus dropped (not in the config).
    let (status, json) = post(&server, "/predict", good().to_string()).await;
    assert_eq!(status, 200, "{json}");
    let result = json["results"][0]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{json}");
    assert_eq!(
        (result[0]["id"].as_str(), result[0]["from_name"].as_str(), result[0]["to_name"].as_str()),
        (Some("track-1"), Some("r"), Some("v"))
    );
    assert_eq!(json["results"][0]["model_version"], "prelabel-test m s");
    assert_eq!(*seen.lock().unwrap(), ["clip.mp4"], "no bad request reached the labeler");
    // Nothing was written outside the cache.
    let mut in_root: Vec<_> = std::fs::read_dir(&s.root).unwrap().map(|e| e.unwrap().file_name()).collect();
    in_root.sort();
    assert_eq!(in_root, ["clip.mp4", "link.mp4", "sub"]);
    server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_when_configured() {
    let s = setup(&["clip.mp4"]);
    let mut c = config(&s);
    c.auth = Auth { basic: Some(("ls".into(), "pw".into())), token: Some("tok".into()) };
    let server = start(c, &Seen::default(), Duration::ZERO).await;
    let url = format!("http://{}/health", server.addr);
    let http = reqwest::Client::new();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    assert!(resp.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("credentials"));
    assert_eq!(http.get(&url).basic_auth("ls", Some("no")).send().await.unwrap().status().as_u16(), 401);
    assert_eq!(http.get(&url).basic_auth("ls", Some("pw")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(http.get(&url).bearer_auth("tok").send().await.unwrap().status().as_u16(), 200);
    server.stop(Duration::from_secs(5)).await;
}

/// A stand-in for Label Studio's `POST /api/predictions/`: records what it gets.
async fn fake_label_studio() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/data/upload/{*file}",
        // An uploaded video, slowly; only with the token.
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            match headers.get("authorization").map(|v| v.to_str().unwrap().to_string()) {
                Some(a) if a == "Token secret-token" => (axum::http::StatusCode::OK, b"an uploaded video".repeat(1000)),
                _ => (axum::http::StatusCode::UNAUTHORIZED, Vec::new()),
            }
        }),
    );
    let app = app.route(
        "/api/predictions/",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
            let g = g.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                g.lock().unwrap().push((auth, body.0));
                (axum::http::StatusCode::CREATED, axum::Json(json!({"id": 1})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_video_is_labelled_once_and_each_task_answered_once() {
    let names: Vec<String> = (0..10).map(|i| format!("v{i}.mp4")).collect();
    let mut files: Vec<&str> = names.iter().map(String::as_str).collect();
    files.push("corrupt.mp4");
    let s = setup(&files);
    let (ls_url, got) = fake_label_studio().await;
    let mut c = config(&s);
    c.wait = Duration::ZERO;
    c.label_studio = Access::new(&ls_url, "secret-token");
    let seen = Seen::default();
    let server = start(c.clone(), &seen, Duration::from_millis(500)).await;

    // Ten tasks, two of them on the same video, plus a corrupt one: all pending at first.
    let mut tasks: Vec<Value> = names.iter().enumerate().map(|(i, n)| task(100 + i as u64, n)).collect();
    tasks.push(task(200, "v3.mp4"));
    tasks.push(task(300, "corrupt.mp4"));
    tasks.push(task(400, "missing.mp4"));
    let (status, json) = post(&server, "/predict", predict_body(tasks.clone()).to_string()).await;
    assert_eq!(status, 200, "{json}");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 13, "one entry per task");
    for r in &results[..12] {
        assert_eq!(r["status"], "pending", "{r}");
        assert!(r.get("result").is_none(), "{r}");
    }
    assert!(results[12]["error"].as_str().unwrap().contains("missing.mp4"), "{}", results[12]);

    // Sent through the API, one per task (the corrupt one's none), with the token.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().len() < 11 {
        assert!(std::time::Instant::now() < deadline, "{} predictions sent", got.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posted = got.lock().unwrap().clone();
    let ids: Vec<u64> = posted.iter().map(|(_, p)| p["task"].as_u64().unwrap()).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (11, 11), "each task once: {ids:?}");
    assert!(!unique.contains(&300), "the corrupt video's task gets no prediction");
    for (auth, p) in &posted {
        assert_eq!(auth, "Token secret-token");
        assert_eq!(p["result"].as_array().unwrap().len(), 1, "{p}");
        assert_eq!(p["model_version"], "prelabel-test m s");
    }
    let mut labelled = seen.lock().unwrap().clone();
    labelled.sort();
    let mut want: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    want.sort();
    assert_eq!(labelled, want, "every video labelled once");

    // Asked again: answered at once from disk, nothing labelled, nothing posted; the
    // corrupt video's error is remembered, not recomputed.
    let (_, json) = post(&server, "/predict", predict_body(tasks.clone()).to_string()).await;
    let results = json["results"].as_array().unwrap();
    for r in &results[..11] {
        assert_eq!(r["result"].as_array().map(Vec::len), Some(1), "{r}");
    }
    assert!(results[11]["error"].as_str().unwrap().contains("task 300: corrupt.mp4: Invalid data"), "{}", results[11]);
    assert_eq!(seen.lock().unwrap().len(), 11);
    let status: Value = reqwest::get(format!("http://{}/status", server.addr)).await.unwrap().json().await.unwrap();
    assert_eq!((status["done"].as_u64(), status["failed"].as_u64(), status["queued"].as_u64()), (Some(10), Some(1), Some(0)), "{status}");
    server.stop(Duration::from_secs(5)).await;
    assert_eq!(got.lock().unwrap().len(), 11, "nothing posted twice");

    // A restarted server over the same cache: still nothing labelled again.
    let server = start(c, &seen, Duration::ZERO).await;
    let (_, json) = post(&server, "/predict", predict_body(tasks[..10].to_vec()).to_string()).await;
    assert!(json["results"].as_array().unwrap().iter().all(|r| r["result"].as_array().map(Vec::len) == Some(1)), "{json}");
    assert_eq!(seen.lock().unwrap().len(), 11, "never computed twice");
    server.stop(Duration::from_secs(5)).await;
}

/// Labels its first video at once, then waits for the stop and reports the rest interrupted
/// (as the batch job does when its cancel flag is set).
struct StopsHalfway {
    seen: Seen,
}

impl Labeler for StopsHalfway {
    fn label(&mut self, videos: &[PathBuf], out: &Path, cancel: &AtomicBool, progress: &dyn Progress) -> prelabel::error::Result<()> {
        let mut canned = Canned { seen: self.seen.clone(), delay: Duration::ZERO };
        canned.label(&videos[..1], out, cancel, progress)?;
        while !cancel.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        for (n, v) in videos.iter().enumerate().skip(1) {
            progress.video_finished(n + 1, &VideoReport::without_labels(v, &out.join("x"), Status::Interrupted, None));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_keeps_what_is_finished_and_forgets_what_is_not() {
    let s = setup(&["a.mp4", "b.mp4"]);
    let mut c = config(&s);
    // Long enough for a.mp4 (labelled at once) on a busy machine; b.mp4 waits for the stop.
    c.wait = Duration::from_secs(2);
    let seen = Seen::default();
    let s2 = seen.clone();
    let server = Server::start(c.clone(), Box::new(move || Ok(Box::new(StopsHalfway { seen: s2 }) as Box<dyn Labeler>))).await.unwrap();
    let tasks = vec![task(1, "a.mp4"), task(2, "b.mp4")];
    let (_, json) = post(&server, "/predict", predict_body(tasks.clone()).to_string()).await;
    assert_eq!(json["results"][0]["result"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(json["results"][1]["status"], "pending", "{json}");
    // A request waiting when the stop comes is answered, not dropped.
    let addr = server.addr;
    let body = predict_body(vec![task(2, "b.mp4")]).to_string();
    let waiting = tokio::spawn(async move {
        let resp = reqwest::Client::new().post(format!("http://{addr}/predict")).body(body).send().await.unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop(Duration::from_secs(5)).await;
    let (status, json) = waiting.await.unwrap();
    assert_eq!(status, 200);
    let error = json["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("interrupted") || error.contains("stopping"), "{json}");

    // Restarted: a.mp4 from disk, b.mp4 labelled now (it was not finished, so not kept).
    c.wait = Duration::from_secs(20);
    let server = start(c, &seen, Duration::ZERO).await;
    let (_, json) = post(&server, "/predict", predict_body(tasks).to_string()).await;
    for r in json["results"].as_array().unwrap() {
        assert_eq!(r["result"].as_array().map(Vec::len), Some(1), "{json}");
    }
    assert_eq!(*seen.lock().unwrap(), ["a.mp4", "b.mp4"], "a.mp4 labelled once, b.mp4 once it could finish");
    server.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_still_being_fetched_at_the_deadline_is_labelled_and_sent_later() {
    let s = setup(&[]);
    let (ls_url, got) = fake_label_studio().await;
    let mut c = config(&s);
    c.wait = Duration::from_millis(50);
    c.label_studio = Access::new(&ls_url, "secret-token");
    let seen = Seen::default();
    let server = start(c, &seen, Duration::ZERO).await;
    let upload = json!({"id": 7, "data": {"video": "/data/upload/1/0a1b2c3d-clip.mp4"}});
    let (status, json) = post(&server, "/predict", predict_body(vec![upload.clone()]).to_string()).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["results"][0]["status"], "pending", "{json}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the prediction was never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posted = got.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert_eq!((posted[0].1["task"].as_u64(), posted[0].1["result"].as_array().map(Vec::len)), (Some(7), Some(1)));
    // Fetched once, into the cache; asked again, answered at once.
    assert_eq!(std::fs::read_dir(s.cache.join("uploads")).unwrap().count(), 1);
    let (_, json) = post(&server, "/predict", predict_body(vec![upload]).to_string()).await;
    assert_eq!(json["results"][0]["result"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    server.stop(Duration::from_secs(5)).await;
}
