-- Version 7: what each transcript folder held when the walk last listed it, so that a
-- run where nothing changed stats folders instead of listing them (see ctm-source's
-- walk). Paths and entry names only: no transcript content. Rebuilt by any walk.

CREATE TABLE IF NOT EXISTS walk_folders (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    listed_at_ns INTEGER NOT NULL,
    -- For each entry: a kind byte (d folder, f transcript, l link), the name, a NUL.
    entries BLOB NOT NULL
) WITHOUT ROWID;
