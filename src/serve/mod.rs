//! `prelabel serve`: a Label Studio ML backend. Label Studio sends it tasks (on import, or
//! when someone clicks "Retrieve predictions"); it answers with the regions `prelabel run`
//! writes into `labelstudio.json` for the task's video with the same options, limited to the
//! labels of the project's labeling config and named after its controls.
//!
//! Takes a [`ServeConfig`] and a [`MakeLabeler`] (a [`crate::batch::Labeler`], set up as for
//! `prelabel run`, which runs the same batch job); gives an HTTP server ([`Server`]) on tokio and axum.
//!
//! - `routes`: the protocol (health, setup, predict, webhook, versions, status);
//! - [`request`]: checks of the request bodies, and the JSON errors of refused requests;
//! - [`labeling`]: what the project's labeling config asks of the regions;
//! - [`source`]: which file a task's video URL names (never outside `--root`);
//! - [`store`]: results on disk, keyed by video fingerprint and settings, computed once;
//! - [`work`]: the bounded queue and the worker thread that labels;
//! - [`client`]: uploads fetched from Label Studio, late predictions sent back to it;
//! - [`auth`]: basic auth or a token.
//!
//! Every write goes under `--cache`. Requests are limited in size (`--max-body`, 413), and
//! every refused request gets a 4xx with a JSON `{"error": ...}`, never a crash.

pub mod auth;
pub mod client;
pub mod labeling;
pub mod request;
pub(crate) mod routes;
pub mod source;
pub mod store;
pub mod work;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
pub use auth::Auth;
pub use client::Access;
pub use work::{Labeler, MakeLabeler};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Label Studio's Local Files document root: task paths are mapped under it.
    pub root: Option<PathBuf>,
    /// The server's own folder (results, uploads, work); nothing is written elsewhere.
    pub cache: PathBuf,
    pub auth: Auth,
    /// Largest request body read, in bytes.
    pub max_body: usize,
    /// How long a predict request waits for videos before answering with what is ready.
    pub wait: Duration,
    /// Most videos queued or being labelled at once.
    pub queue: usize,
    /// The Label Studio to fetch uploads from and send late predictions to; None: the one
    /// each project's setup call names.
    pub label_studio: Option<Access>,
    /// What setup answers and every prediction carries: the model and settings fingerprints.
    pub model_version: String,
    /// Fingerprint of the settings that change labels: part of every result's key.
    pub settings_sha256: String,
    /// The labels prelabel's settings produce; a project must use at least one.
    pub known_labels: BTreeSet<String>,
}

/// What the handlers share.
pub struct App {
    pub config: ServeConfig,
    pub work: Arc<work::Work>,
    client: client::Client,
    /// Label Studio URL and token from each project's setup call, by project uid.
    setups: Mutex<HashMap<String, Access>>,
}

impl App {
    /// Where to reach Label Studio for a project: the command line's, else its setup's.
    fn access(&self, project_uid: Option<&str>) -> Option<Access> {
        self.config
            .label_studio
            .clone()
            .or_else(|| project_uid.and_then(|p| self.setups.lock().unwrap_or_else(|e| e.into_inner()).get(p).cloned()))
    }

    /// An uploaded video already fetched into the cache's `uploads/`.
    fn fetched(&self, upload: &str) -> Option<PathBuf> {
        Some(self.work.store.upload_path(upload)).filter(|p| p.is_file())
    }

    /// Fetches an uploaded video into the cache's `uploads/` (in a task of its own, so it
    /// goes on when the request that asked for it has answered).
    fn fetch(self: &Arc<App>, access: Option<Access>, upload: &str) -> tokio::task::JoinHandle<std::result::Result<PathBuf, String>> {
        let (app, upload) = (self.clone(), upload.to_string());
        tokio::spawn(async move {
            let dest = app.work.store.upload_path(&upload);
            let access = access.ok_or_else(|| {
                format!("{upload} is an upload: start prelabel serve with --label-studio-url and --label-studio-token to fetch it")
            })?;
            app.client.download(&access, &upload, &dest).await?;
            Ok(dest)
        })
    }
}

/// Any error answer without a JSON body (axum's own: 405, 413, a bad path) gets one, so
/// every refusal reads the same: `{"error": ..., "status": ...}`.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_string();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_string();
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        message = format!("{message}: the request body is larger than this server reads (--max-body)");
    }
    tracing::warn!("refused a request ({}): {message}", status.as_u16());
    let body = json!({"error": message, "status": status.as_u16()}).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The routes, with auth, the size limit and JSON errors.
pub(crate) fn router(app: Arc<App>) -> Router {
    let auth = Arc::new(app.config.auth.clone());
    let max_body = app.config.max_body;
    Router::new()
        .route("/", get(routes::health))
        .route("/health", get(routes::health))
        .route("/setup", post(routes::setup))
        .route("/predict", post(routes::predict))
        .route("/webhook", post(routes::webhook))
        .route("/versions", get(routes::versions))
        .route("/status", get(routes::status))
        .fallback(routes::not_found)
        .with_state(app)
        // axum's own 2 MB default would cut bodies below --max-body; the tower-http limit
        // refuses larger ones (by Content-Length before reading, else while reading).
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(axum::middleware::from_fn_with_state(auth, auth::check))
        .layer(axum::middleware::map_response(json_errors))
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: std::thread::JoinHandle<()>,
    poster: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Makes the labeler on the worker thread (loading the model), opens the cache, and
    /// listens. Returns once requests are answered.
    pub async fn start(config: ServeConfig, make: MakeLabeler) -> Result<Server> {
        let store = store::Store::open(&config.cache, &config.settings_sha256)?;
        let (posts, rx) = mpsc::unbounded_channel();
        let work = Arc::new(work::Work::new(store, config.queue.max(1), posts));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let w = work.clone();
        let worker = std::thread::Builder::new()
            .name("prelabel-serve-worker".into())
            .spawn(move || match make() {
                Ok(mut labeler) => {
                    let _ = ready_tx.send(Ok(()));
                    w.run_worker(&mut *labeler);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| Error::Usage(format!("cannot start the worker thread: {e}")))?;
        ready_rx.await.map_err(|_| Error::Usage("the worker thread ended while loading the model".into()))??;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener.local_addr().map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
        let client = client::Client::default();
        let poster = tokio::spawn(client::poster(client.clone(), rx));
        let app = Arc::new(App { config, work, client, setups: Mutex::default() });
        let (shutdown, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let service = router(app.clone());
        let http = tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        tracing::info!("serving on http://{addr} (model version {})", app.config.model_version);
        Ok(Server { addr, app, shutdown, http, worker, poster })
    }

    /// Stops cleanly: no new work; the batch in flight stops after its current model batch
    /// (every video already finished is on disk); requests in flight are answered; the
    /// predictions still to send are sent (for at most `flush`).
    pub async fn stop(self, flush: Duration) {
        let Server { app, shutdown, http, worker, poster, .. } = self;
        app.work.stop();
        let _ = shutdown.send(());
        let _ = http.await;
        let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        // The last sender goes with the app's work: the poster ends when its queue is empty.
        drop(app);
        if tokio::time::timeout(flush, poster).await.is_err() {
            tracing::warn!("stopped with predictions not yet sent to Label Studio: retrieve them again");
        }
    }
}

/// Runs the server until SIGTERM or Ctrl-C, then stops it cleanly.
pub fn run(config: ServeConfig, make: MakeLabeler) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the server's runtime: {e}")))?;
    rt.block_on(async {
        let server = Server::start(config, make).await?;
        eprintln!("prelabel: serving on http://{}", server.addr);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Usage(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
        }
        server.stop(Duration::from_secs(30)).await;
        tracing::info!("stopped");
        Ok(())
    })
}
