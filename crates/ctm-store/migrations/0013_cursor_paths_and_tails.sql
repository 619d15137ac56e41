-- Version 13: cursors keyed by the raw bytes of their path, with the fingerprint of the
-- bytes just before their offset.
--
-- A path was stored as text, converted lossily when it was not UTF-8, so two files
-- whose names differed only in invalid bytes shared one cursor and one of them was read
-- again on every run. The key is now the path's bytes (a BLOB); a text key is the same
-- bytes for a UTF-8 path, and a key that was converted (it holds U+FFFD) is dropped, so
-- its files are read once more from the start (merging makes that safe).
--
-- tail_len/tail_hash: the xxh3 of the up to 4 KiB before `offset`. A transcript
-- rewritten in place (same inode, same first 4 KiB, its end replaced) is found by them
-- and read from the start, instead of resumed mid-line. 0 for the cursors copied here:
-- their next read checks only that the byte before the offset ends a line.
-- in_long_line: the offset is inside a line longer than ctm reads (64 MiB), which the
-- next read skips to its newline.

CREATE TABLE file_cursors_v13 (
    path BLOB PRIMARY KEY,                       -- the path's bytes (names need not be UTF-8)
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    offset INTEGER NOT NULL,                     -- just after the last complete line read
    head_len INTEGER NOT NULL,
    head_hash INTEGER NOT NULL,                  -- xxh3 of the first head_len bytes
    tail_len INTEGER NOT NULL DEFAULT 0,
    tail_hash INTEGER NOT NULL DEFAULT 0,        -- xxh3 of the tail_len bytes before offset
    in_long_line INTEGER NOT NULL DEFAULT 0,
    lines INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_read INTEGER NOT NULL,
    missing_since INTEGER                        -- set when the file vanished (its facts stay)
);

INSERT INTO file_cursors_v13 (path, dev, ino, size, mtime_ns, offset, head_len, head_hash,
                              lines, first_seen, last_read, missing_since)
    SELECT CAST(path AS BLOB), dev, ino, size, mtime_ns, offset, head_len, head_hash,
           lines, first_seen, last_read, missing_since
    FROM file_cursors
    WHERE instr(path, char(65533)) = 0;

DROP TABLE file_cursors;
ALTER TABLE file_cursors_v13 RENAME TO file_cursors;

-- The walk's stat list speaks only for the cursors it was recorded with (invariant 8).
DELETE FROM walk_stat_list;

-- Blocks opened by a fact dated before year 0000, which ctm before this version accepted
-- and wrote with a signed year ('-001-...', sorting before every real time, so no
-- rebuild reached them). Their facts go in the same migration (see
-- ctm_store::facts::drop_facts_outside_years); the rebuild that follows writes the rest.
DELETE FROM usage_blocks WHERE substr(start_time, 1, 1) = '-';
