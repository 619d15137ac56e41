//! Whose store this is. The store is the user's usage history, and what ctm reports is
//! whatever the store says: a store another user owns (or can write) could show made-up
//! figures, and one others can read shows them your history. In a shared folder, ctm
//! once adopted a 0666 store another user had created.
//!
//! - The default location ([`OwnerRule::Private`]): the file (and its `-wal`/`-shm`,
//!   when present) must belong to the current user and be readable and writable by no
//!   one else. ctm creates it so (mode 0600 in a 0700 folder).
//! - A file the user named with `--db` or `CTM_DB` ([`OwnerRule::Named`]): naming it says
//!   it is trusted, so it may belong to someone else and be readable by others, but it
//!   must not be writable by anyone but its owner.
//!
//! Refusals are one line naming the file and the fix.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::{OwnerRule, StoreError};

/// Checks the store at `path` (which exists) and its side files against `rule`.
pub fn check(path: &Path, rule: OwnerRule) -> Result<(), StoreError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        // Through links: what counts is the file SQLite will open.
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if let Some(refusal) = refusal(&file, path, meta.uid(), meta.mode(), me, rule) {
            return Err(StoreError::Unsafe(refusal));
        }
    }
    Ok(())
}

/// Why the file (`store`'s own or a side file) may not be used, if it may not.
fn refusal(
    file: &Path,
    store: &Path,
    owner: u32,
    mode: u32,
    me: u32,
    rule: OwnerRule,
) -> Option<String> {
    let perms = mode & 0o777;
    let f = file.display();
    let s = store.display();
    if perms & 0o022 != 0 {
        return Some(format!(
            "{f} can be written by other users (mode {perms:04o}), so what it says cannot be trusted; \
             if it is yours, run `chmod go-rw {f}`, else move it away"
        ));
    }
    if rule == OwnerRule::Named {
        return None;
    }
    if owner != me {
        return Some(format!(
            "{f} belongs to another user (uid {owner}), so ctm will not adopt it as your store; \
             move it away, or name it with --db {s} if you trust it"
        ));
    }
    if perms & 0o044 != 0 {
        return Some(format!(
            "{f} can be read by other users (mode {perms:04o}), and it holds your usage history; \
             run `chmod 600 {f}`, or name it with --db {s} to use it as it is"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_store_must_be_private_and_a_named_one_not_writable_by_others() {
        let (f, me, other) = (Path::new("/s/ctm.db"), 1000, 1001);
        let private = |owner, mode| refusal(f, f, owner, mode, me, OwnerRule::Private);
        let named = |owner, mode| refusal(f, f, owner, mode, me, OwnerRule::Named);
        assert_eq!(private(me, 0o100600), None);
        assert_eq!(private(me, 0o100400), None);
        for (owner, mode, says) in [
            (other, 0o100600, "belongs to another user (uid 1001)"),
            (me, 0o100644, "can be read by other users (mode 0644)"),
            (me, 0o100640, "chmod 600"),
            (me, 0o100666, "can be written by other users (mode 0666)"),
            (me, 0o100620, "chmod go-rw"),
        ] {
            let why = private(owner, mode).unwrap_or_else(|| panic!("{mode:o} passed"));
            assert!(why.contains(says) && !why.contains('\n'), "{why}");
        }
        assert_eq!(
            named(other, 0o100644),
            None,
            "named and not writable by others"
        );
        assert_eq!(named(me, 0o100640), None);
        assert!(named(other, 0o100666).is_some());
        assert!(named(me, 0o100602).is_some());
    }
}
