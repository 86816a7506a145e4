//! The bodies Label Studio sends, checked before anything is done with them: takes the raw
//! bytes of a `/predict` or `/setup` request, gives the typed request or an [`ApiError`]
//! (a 4xx with a JSON `{"error": ...}` naming the field and what was wrong). The fields are
//! those of Label Studio 1.23's `ml/api_connector.py`: predict sends `tasks` (each with `id`
//! and `data`), `project` (`"<id>.<created timestamp>"`), `label_config` and `params`;
//! setup sends `project`, `schema` (the labeling config), `hostname`, `access_token` and
//! `extra_params`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::labeling::Project;
use super::source::{self, VideoRef};

/// Most tasks in one predict request (Label Studio sends its "Retrieve predictions"
/// selection in one request).
pub(crate) const MAX_TASKS: usize = 10_000;

/// A request refused: its status and a one-line reason, sent as `{"error": reason}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::warn!("refused a request ({}): {}", self.status.as_u16(), self.message);
        (self.status, axum::Json(json!({"error": self.message, "status": self.status.as_u16()}))).into_response()
    }
}

/// One task to predict.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: u64,
    pub video: VideoRef,
}

#[derive(Debug, Clone)]
pub struct Predict {
    pub tasks: Vec<Task>,
    /// `"<project id>.<timestamp>"`, when sent: finds the Label Studio its setup named.
    pub project_uid: Option<String>,
    pub project: Arc<Project>,
}

#[derive(Debug, Clone)]
pub struct Setup {
    pub project_uid: Option<String>,
    pub project: Project,
    pub hostname: Option<String>,
    pub access_token: Option<String>,
}

/// The name of a JSON value's type, for errors.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad("the request has no body: send a JSON object"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::bad(format!("the body is {}, not a JSON object", kind(&other)))),
        Err(e) => Err(ApiError::bad(format!("the body is not JSON: {e}"))),
    }
}

/// An optional string field: absent or null is None, anything but a string an error.
fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad(format!("{key}: expected a string, got {}", kind(v)))),
    }
}

fn config(m: &Map<String, Value>, key: &str, known: &BTreeSet<String>) -> Result<Project, ApiError> {
    match m.get(key) {
        None => Err(ApiError::bad(format!("{key}: missing (the project's labeling config)"))),
        Some(Value::String(xml)) => Project::parse(xml, known).map_err(|e| ApiError::unprocessable(format!("{key}: {e}"))),
        Some(v) => Err(ApiError::bad(format!("{key}: expected the labeling config as a string, got {}", kind(v)))),
    }
}

/// Checks a `/predict` body; `known` are the labels the server's settings produce.
pub fn predict(body: &[u8], known: &BTreeSet<String>) -> Result<Predict, ApiError> {
    let m = object(body)?;
    let project_uid = opt_string(&m, "project")?;
    if let Some(p) = m.get("params").filter(|p| !p.is_null() && !p.is_object()) {
        return Err(ApiError::bad(format!("params: expected an object, got {}", kind(p))));
    }
    let tasks = match m.get("tasks") {
        None => return Err(ApiError::bad("tasks: missing (the list of tasks to predict)")),
        Some(Value::Array(t)) if t.is_empty() => return Err(ApiError::bad("tasks: the list is empty")),
        Some(Value::Array(t)) if t.len() > MAX_TASKS => {
            return Err(ApiError::bad(format!("tasks: {} tasks, more than the {MAX_TASKS} one request may hold", t.len())))
        }
        Some(Value::Array(t)) => t,
        Some(v) => return Err(ApiError::bad(format!("tasks: expected a list, got {}", kind(v)))),
    };
    let project = config(&m, "label_config", known)?;
    let tasks = tasks.iter().enumerate().map(|(i, t)| task(i, t, &project.data_key)).collect::<Result<Vec<_>, _>>()?;
    Ok(Predict { tasks, project_uid, project: Arc::new(project) })
}

fn task(i: usize, t: &Value, key: &str) -> Result<Task, ApiError> {
    let at = |what: String| ApiError::bad(format!("tasks[{i}]{what}"));
    let Value::Object(t) = t else { return Err(at(format!(": expected an object, got {}", kind(t)))) };
    let id = match t.get("id") {
        None => return Err(at(".id: missing".into())),
        Some(v) => v.as_u64().ok_or_else(|| at(format!(".id: expected a task id (a whole number, 0 or more), got {}", kind(v))))?,
    };
    let data = match t.get("data") {
        None => return Err(at(".data: missing".into())),
        Some(Value::Object(d)) => d,
        Some(v) => return Err(at(format!(".data: expected an object, got {}", kind(v)))),
    };
    let url = match data.get(key) {
        Some(Value::String(s)) => s,
        Some(v) => return Err(at(format!(".data.{key}: expected the video's URL as a string, got {}", kind(v)))),
        None => {
            let keys: Vec<&str> = data.keys().map(String::as_str).take(20).collect();
            return Err(at(format!(
                ".data: no {key:?} key, which the labeling config's <Video value=\"${key}\"> reads (the task has: {})",
                if keys.is_empty() { "no keys".to_string() } else { keys.join(", ") }
            )));
        }
    };
    let video = source::parse(url).map_err(|e| at(format!(".data.{key}: {}", e.0)))?;
    Ok(Task { id, video })
}

/// Checks a `/setup` body.
pub fn setup(body: &[u8], known: &BTreeSet<String>) -> Result<Setup, ApiError> {
    let m = object(body)?;
    let project_uid = opt_string(&m, "project")?;
    let hostname = opt_string(&m, "hostname")?;
    let access_token = opt_string(&m, "access_token")?;
    let project = config(&m, "schema", known)?;
    Ok(Setup { project_uid, project, hostname, access_token })
}

/// Checks a `/webhook` body: a JSON object with an `action` string (Label Studio sends every
/// project event to the backend's webhook). Gives the action.
pub fn webhook(body: &[u8]) -> Result<String, ApiError> {
    let m = object(body)?;
    match m.get("action") {
        Some(Value::String(a)) => Ok(a.clone()),
        None => Err(ApiError::bad("action: missing (the webhook event's name)")),
        Some(v) => Err(ApiError::bad(format!("action: expected a string, got {}", kind(v)))),
    }
}
