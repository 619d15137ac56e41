-- Version 10: the stats the last complete walk met (ctm-source's stat list), so that a
-- run where nothing changed checks them in one pass instead of walking: part 0 is the
-- header, the other parts hold whole folders, read in order. One list, for the roots
-- it was recorded with. It speaks for the cursors it was recorded with only: the one
-- way to write cursors (ctm-store's CursorWriter) drops it first, and the ingest
-- records it again after its cursor writes, in the same transaction. (Not a trigger:
-- a trigger makes every cursor write keep a statement journal.)

CREATE TABLE IF NOT EXISTS walk_stat_list (
    part INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);
