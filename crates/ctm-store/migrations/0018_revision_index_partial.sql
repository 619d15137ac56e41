-- Version 18: the revision index holds only facts with a revision above 0. Revision 0 is
-- what facts from before version 15 carry, and what a store's first ingest writes (an
-- empty fact table and no push mark: nothing can have been sent yet). A push reads the
-- revision-0 facts in id order (the table's own order, no index needed) before the rest
-- in (revision, id) order from this index, so a first ingest neither fills nor builds it.

DROP INDEX IF EXISTS idx_facts_revision;
CREATE INDEX idx_facts_revision ON facts(revision, id) WHERE revision > 0;
