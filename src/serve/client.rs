//! What the server asks of Label Studio, over its REST API with an API token: uploaded
//! videos (`GET /data/upload/...`, saved whole or not at all) and predictions finished after
//! their request was answered (`POST /api/predictions`, sent by `poster` in the
//! background, with retries).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// A Label Studio and the token to call it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `http://host:port` (no trailing slash).
    pub url: String,
    /// A legacy API token (Account & Settings -> Legacy token), sent as `Token <token>`.
    pub token: String,
}

impl Access {
    /// `url` cleaned of trailing slashes; None unless it is an http(s) URL and a token is given.
    pub fn new(url: &str, token: &str) -> Option<Access> {
        let url = url.trim().trim_end_matches('/');
        let ok = (url.starts_with("http://") || url.starts_with("https://")) && !token.trim().is_empty();
        ok.then(|| Access { url: url.to_string(), token: token.trim().to_string() })
    }

    fn auth(&self) -> String {
        format!("Token {}", self.token)
    }
}

/// A finished prediction for Label Studio's `POST /api/predictions` (task, result, score,
/// model_version).
#[derive(Debug)]
pub struct Post {
    pub access: Access,
    pub prediction: Value,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Client {
        // No proxy from the environment: Label Studio is reached directly, as configured.
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).no_proxy().build().unwrap_or_default();
        Client { http }
    }
}

impl Client {
    /// Fetches `upload` (`/data/upload/...`) from `access` into `dest`: a temporary file in
    /// its folder, renamed into place once complete. Gives a one-line error.
    pub(crate) async fn download(&self, access: &Access, upload: &str, dest: &Path) -> Result<(), String> {
        let url = format!("{}{upload}", access.url);
        let mut resp = self
            .http
            .get(&url)
            .header("Authorization", access.auth())
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .map_err(|e| format!("cannot fetch {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("cannot fetch {url}: HTTP {}", resp.status()));
        }
        let dir = dest.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".download-")
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("cannot fetch {url}: {e}"))? {
            tmp.write_all(&chunk).map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
        }
        tmp.as_file().sync_all().map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        tmp.persist(dest).map_err(|e| format!("cannot write {}: {}", dest.display(), e.error))?;
        Ok(())
    }

    /// Creates one prediction in Label Studio.
    pub(crate) async fn post_prediction(&self, post: &Post) -> Result<(), String> {
        let url = format!("{}/api/predictions/", post.access.url);
        let resp = self
            .http
            .post(&url)
            .header("Authorization", post.access.auth())
            .json(&post.prediction)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        Err(format!("POST {url}: HTTP {status}: {}", body.chars().take(500).collect::<String>()))
    }
}

/// Sends the predictions `rx` brings, each tried up to 4 times (1, 2, 4 s apart), until the
/// channel closes and is empty.
pub(crate) async fn poster(client: Client, mut rx: mpsc::UnboundedReceiver<Post>) {
    while let Some(post) = rx.recv().await {
        let task = post.prediction["task"].clone();
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=4 {
            match client.post_prediction(&post).await {
                Ok(()) => {
                    tracing::info!("task {task}: predictions sent to Label Studio");
                    break;
                }
                Err(e) if attempt == 4 => tracing::error!("task {task}: predictions not sent, retrieve them again: {e}"),
                Err(e) => {
                    tracing::warn!("task {task}: {e} (trying again in {} s)", wait.as_secs());
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}
