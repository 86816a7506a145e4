//! Stage 9, render: what reviewers look at before they read (`--preview`).

pub mod encode;

pub use encode::{Mp4Writer, Rate};
