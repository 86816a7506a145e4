//! `prelabel serve` (issue 19), in one test binary (one link of the library instead of two):
//!
//! - [`requests`]: the HTTP side in process, no Label Studio, no model: bad requests of many
//!   kinds, auth, the queue (every video labelled once, every task answered once), stops.
//!   About a second.
//! - [`labelstudio`]: the server connected to a real Label Studio 1.23.2, its predictions
//!   checked against `prelabel run`, and shown in the editor. About 45 s.

#[path = "../common/mod.rs"]
mod common;
mod labelstudio;
mod requests;
