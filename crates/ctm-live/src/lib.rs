//! `ctm live`: a full-screen monitor of the current 5-hour block.
//!
//! - [`screen`]: a pure function from [`ctm_analytics::LiveView`] to ratatui widgets
//!   (also rendered to text for `--once`, and to a test buffer in the snapshot tests).
//! - [`app`]: the terminal and the event loop: keys, resize, redraws, and a
//!   [`ctm_follow::Follower`] that keeps the store up to date while the screen is open.
//!
//! Only this crate links ratatui and crossterm; the core crates never do.

pub mod app;
pub mod screen;

pub use app::{run, LiveOptions};
pub use screen::{to_text, Screen};
