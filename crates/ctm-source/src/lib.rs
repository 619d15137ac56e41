//! The source stage: where Claude Code keeps its data and what its transcript lines say.
//!
//! - [`roots`]: which folders are data roots (`--claude-dir`, `CLAUDE_CONFIG_DIR`, defaults).
//! - [`walk`]: every transcript under them, once, with the stat facts a cursor compares.
//! - [`stat_list`]: the walk's one memo: every folder it listed, with each entry's stat,
//!   checked later in one pass, and the listings the next walk reuses.
//! - [`read`]: the new bytes of one transcript, folded into one sighting per response.
//! - [`line`]: one line in, at most one usage sighting out; bad lines get a counted reason.
//! - [`cores`]: every core, one way (rayon), with results handed back in order.
//!
//! Nothing here knows about the store; nothing downstream reads Claude Code's files.

pub mod cores;
mod fields;
pub mod line;
pub mod read;
pub mod roots;
pub mod stat_list;
pub mod walk;

pub use line::{parse_line, LimitNotice, LineOutcome, SharedTexts, SkipReason};
pub use read::{read_transcript, FileRead, Head, LineStats, Resume, HEAD_BYTES, MAX_LINE_BYTES};
pub use roots::{candidates, existing, RootCandidates, RootsFrom};
pub use walk::{find_transcripts, FolderListing, FolderMemo, FoundFile, Walk, WalkProblem};
