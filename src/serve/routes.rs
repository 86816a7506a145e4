//! The routes Label Studio 1.23 calls on an ML backend (`ml/api_connector.py`), and two of
//! our own:
//!
//! | route | Label Studio calls it | answer |
//! |---|---|---|
//! | `GET /health` (and `/`) | on connect and before each predict (1 s timeout) | `{"status": "UP", ...}` |
//! | `POST /setup` | on connect and before each predict (3 s timeout) | `{"model_version": ...}`, or 422 when the labeling config has nothing prelabel draws |
//! | `POST /predict` | import (with auto-annotation on) and "Retrieve predictions" (the backend's timeout, 100 s by default) | `{"results": [one per task]}` |
//! | `POST /webhook` | every project event (the webhook Label Studio makes with the backend) | `{"status": "ok"}` |
//! | `GET /versions` | the model version list | `{"versions": [...]}` |
//! | `GET /status` | (us) | the queue, each video's progress |
//!
//! A predict answers within `--wait`: each task gets its regions, an error of its own (a
//! video that cannot be found or decoded fails only its task), or, when its video is still
//! being labelled, no result yet; those predictions are sent through Label Studio's API
//! when the video is done (Label Studio skips a task's entry without `result`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::client::Access;
use super::request::{self, ApiError};
use super::source::{self, VideoRef};
use super::work::{Phase, Ticket, Waiter};
use super::App;

pub async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({"status": "UP", "model_class": "prelabel", "model_version": app.config.model_version}))
}

pub async fn versions(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({"versions": [app.config.model_version]}))
}

pub async fn status(State(app): State<Arc<App>>) -> Json<Value> {
    let mut s = app.work.status();
    s["model_version"] = json!(app.config.model_version);
    Json(s)
}

pub async fn webhook(body: Bytes) -> Result<Json<Value>, ApiError> {
    let action = request::webhook(&body)?;
    tracing::debug!("webhook: {action}");
    Ok(Json(json!({"status": "ok", "action": action})))
}

pub async fn setup(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let s = request::setup(&body, &app.config.known_labels)?;
    if let (Some(uid), Some(access)) =
        (&s.project_uid, s.hostname.as_deref().zip(s.access_token.as_deref()).and_then(|(h, t)| Access::new(h, t)))
    {
        app.setups.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.clone(), access);
    }
    tracing::info!(
        "setup for project {}: video in data.{}, labels {:?}",
        s.project_uid.as_deref().unwrap_or("?"),
        s.project.data_key,
        s.project.labels
    );
    Ok(Json(json!({"model_version": app.config.model_version})))
}

/// Stands for "still being fetched" among the per-task errors.
const STILL_FETCHING: &str = "\u{0}still fetching";

/// An upload that was still being fetched when its request answered: once it is here, it is
/// queued (or found done) like any video, and its task's predictions go through the API.
async fn label_when_fetched(app: Arc<App>, fetch: tokio::task::JoinHandle<Result<std::path::PathBuf, String>>, waiter: Waiter) {
    let task = waiter.task;
    let path = match fetch.await {
        Ok(Ok(path)) => path,
        Ok(Err(e)) => return tracing::warn!("task {task}: {e}"),
        Err(e) => return tracing::warn!("task {task}: fetching the upload failed: {e}"),
    };
    let store = app.work.store.clone();
    let p = path.clone();
    let key = match tokio::task::spawn_blocking(move || store.key(&p)).await {
        Ok(Ok(key)) => key,
        Ok(Err(e)) => return tracing::warn!("task {task}: {}: {e}", path.display()),
        Err(e) => return tracing::warn!("task {task}: {e}"),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    app.work.submit(&[(key.clone(), path, name)]);
    app.work.follow(&key, waiter);
}

/// What one task's entry in the answer will be.
enum Entry {
    Error(String),
    Video(String),
}

pub async fn predict(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let deadline = Instant::now() + app.config.wait;
    let req = request::predict(&body, &app.config.known_labels)?;
    let access = app.access(req.project_uid.as_deref());

    // 1. Each task's video on disk: mapped under the root, or fetched from Label Studio (all
    //    fetches at once; one still running at the deadline goes on, see `late`).
    let fetches: Vec<_> = req
        .tasks
        .iter()
        .map(|t| match &t.video {
            VideoRef::Upload(upload) if app.fetched(upload).is_none() => Some(app.fetch(access.clone(), upload)),
            _ => None,
        })
        .collect();
    let mut paths = Vec::with_capacity(req.tasks.len());
    let mut late = Vec::new();
    for (t, fetch) in req.tasks.iter().zip(fetches) {
        paths.push(match (&t.video, fetch) {
            (VideoRef::Local(rel), _) => match &app.config.root {
                None => Err("this server has no --root for Label Studio's Local Files".to_string()),
                Some(root) => source::resolve_local(root, rel)
                    .map_err(|e| ApiError { status: axum::http::StatusCode::FORBIDDEN, message: format!("task {}: {}", t.id, e.0) })?,
            },
            (VideoRef::Upload(upload), None) => app.fetched(upload).ok_or_else(|| format!("{upload}: fetched, then gone from the cache")),
            (VideoRef::Upload(_), Some(mut fetch)) => match tokio::time::timeout_at(deadline, &mut fetch).await {
                Ok(done) => done.unwrap_or_else(|e| Err(format!("fetching the upload failed: {e}"))),
                Err(_) => {
                    late.push((t.id, fetch));
                    Err(STILL_FETCHING.to_string())
                }
            },
        });
    }
    for (task, fetch) in late {
        let waiter = Waiter { task, project: req.project.clone(), access: access.clone(), model_version: app.config.model_version.clone() };
        tokio::spawn(label_when_fetched(app.clone(), fetch, waiter));
    }

    // 2. Their keys (fingerprints read off the files), then the queue.
    let store = app.work.store.clone();
    let keyed = tokio::task::spawn_blocking(move || {
        paths
            .into_iter()
            .map(|p| {
                let path = p?;
                let key = store.key(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((key, path))
            })
            .collect::<Vec<Result<_, String>>>()
    })
    .await
    .map_err(|e| ApiError { status: axum::http::StatusCode::INTERNAL_SERVER_ERROR, message: format!("reading the videos failed: {e}") })?;
    let entries: Vec<Entry> =
        keyed.iter().map(|k| k.as_ref().map_or_else(|e| Entry::Error(e.clone()), |(key, _)| Entry::Video(key.clone()))).collect();
    let submit: Vec<_> = keyed
        .into_iter()
        .flatten()
        .map(|(key, path)| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (key, path, name)
        })
        .collect();
    let tickets = app.work.submit(&submit);

    // 3. Wait for them, up to the deadline.
    for t in tickets {
        if let Ticket::Wait(mut rx) = t {
            let finished = |p: &Phase| matches!(p, Phase::Done | Phase::Failed(_));
            if tokio::time::timeout_at(deadline, rx.wait_for(finished)).await.is_err() {
                break;
            }
        }
    }

    // 4. Answer: what is ready; the rest is sent through the API when done.
    let mv = &app.config.model_version;
    let mut results = Vec::with_capacity(entries.len());
    let mut pending = 0;
    for (task, entry) in req.tasks.iter().zip(entries) {
        let phase = match entry {
            Entry::Error(e) if e == STILL_FETCHING => Phase::Queued,
            Entry::Error(e) => Phase::Failed(e),
            Entry::Video(key) => {
                let waiter = Waiter { task: task.id, project: req.project.clone(), access: access.clone(), model_version: mv.clone() };
                let phase = app.work.settle(&key, Some(waiter));
                match (phase, app.work.store.get(&key)) {
                    (Phase::Done, Some(stored)) => {
                        results.push(json!({"result": req.project.regions(&stored.regions), "score": stored.score, "model_version": mv}));
                        continue;
                    }
                    (Phase::Done, None) => Phase::Failed("the stored result cannot be read".into()),
                    (p, _) => p,
                }
            }
        };
        results.push(match phase {
            Phase::Failed(e) => {
                tracing::warn!("task {}: {e}", task.id);
                json!({"model_version": mv, "error": format!("task {}: {e}", task.id)})
            }
            _ => {
                pending += 1;
                let then = if access.is_some() {
                    "sent through the Label Studio API when done"
                } else {
                    "retrieve predictions again when it is done"
                };
                json!({"model_version": mv, "status": "pending", "error": format!("task {}: the video is still being labelled: {then}", task.id)})
            }
        });
    }
    if pending > 0 {
        tracing::info!("answered {} task(s), {pending} still being labelled", results.len());
    }
    Ok(Json(json!({"results": results, "model_version": mv})))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError {
        status: axum::http::StatusCode::NOT_FOUND,
        message: "no such route: the ML backend answers /health, /setup, /predict, /webhook, /versions and /status".into(),
    }
}
