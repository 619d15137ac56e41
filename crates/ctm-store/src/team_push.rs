//! What `ctm team push` reads from the store and records in it: the facts changed after a
//! destination's mark, and the marks (migration 15).
//!
//! Every write transaction gives the facts it inserts or changes one [`Revision`], larger
//! than any before. A push reads the facts after its destination's mark in (revision, id)
//! order, up to the last revision committed when it began; a fact changed while it runs
//! gets a later revision and goes with the next push. The mark moves only after the
//! team database has committed what it covers, so a push killed at any instant leaves a
//! mark the next push can start from; sending a fact twice is harmless, as the team
//! database merges by identity.
//!
//! Revision 0 (facts from before revisions, and a store's first ingest: see
//! [`Revision::FIRST_INGEST`]) is read in id order, the table's own; the facts of later
//! revisions from the revision index, which leaves revision 0 out (migration 18).
//!
//! [`Revision`]: crate::facts::Revision
//! [`Revision::FIRST_INGEST`]: crate::facts::Revision::FIRST_INGEST

use std::collections::HashMap;

use ctm_aggregate::Id;
use ctm_model::Response;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::dims::Dims;
use crate::facts::{response_of, stored_row, COLUMNS};
use crate::StoreError;

/// Where a destination's last push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The team database's own id (a recreated database has another).
    pub database_id: String,
    /// This machine's id in that database.
    pub machine_id: i64,
    /// Every fact up to this position is in the team database.
    pub position: Position,
    /// UTC epoch ms of the team database's last commit.
    pub pushed_at_ms: i64,
    /// Responses sent to it in all.
    pub responses: u64,
}

/// A place in the (revision, id) order of the facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub revision: i64,
    pub id: i64,
}

impl Position {
    /// Before every fact.
    pub const START: Position = Position {
        revision: i64::MIN,
        id: i64::MIN,
    };
}

/// How a fact was priced (its `pricings` row) and what it cost: money as the store
/// keeps it, in nano-dollars, so a team's sums equal the local ones to the last digit.
#[derive(Debug, Clone, PartialEq)]
pub struct FactPrice {
    pub cost_nanos: i64,
    pub savings_nanos: i64,
    pub priced: bool,
    pub price_model: Option<String>,
    pub price_version: Option<String>,
    pub long_context: bool,
    pub multiplier: f64,
}

/// One fact as a push sends it: the response, its price, and whether it is billed (not
/// a sidechain replay).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedFact {
    pub position: Position,
    pub response: Response,
    pub price: FactPrice,
    pub billed: bool,
}

/// A destination's mark, if it has pushed before.
pub fn mark(conn: &Connection, destination: &str) -> Result<Option<Mark>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT database_id, machine_id, revision, last_id, pushed_at, responses \
             FROM team_push_marks WHERE destination = ?1",
        )?
        .query_row([destination], |r| {
            Ok(Mark {
                database_id: r.get(0)?,
                machine_id: r.get(1)?,
                position: Position {
                    revision: r.get(2)?,
                    id: r.get(3)?,
                },
                pushed_at_ms: r.get(4)?,
                responses: r.get::<_, i64>(5)? as u64,
            })
        })
        .optional()?)
}

/// Records a destination's mark (after the team database committed what it covers).
pub fn save_mark(tx: &Transaction, destination: &str, m: &Mark) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO team_push_marks (destination, database_id, machine_id, revision, last_id, pushed_at, responses) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(destination) DO UPDATE SET \
         database_id = excluded.database_id, machine_id = excluded.machine_id, revision = excluded.revision, \
         last_id = excluded.last_id, pushed_at = excluded.pushed_at, responses = excluded.responses",
    )?
    .execute(params![
        destination,
        m.database_id,
        m.machine_id,
        m.position.revision,
        m.position.id,
        m.pushed_at_ms,
        m.responses as i64
    ])?;
    Ok(())
}

/// The last revision committed: a push that starts now sends the facts up to it.
pub fn last_revision(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(revision), 0) FROM facts WHERE revision > 0")?
        .query_row([], |r| r.get(0))?)
}

/// The id after which revision-0 facts still lie after `after`, if any can.
fn first_ingest_after(after: Position) -> Option<i64> {
    match after.revision {
        r if r < 0 => Some(i64::MIN),
        0 => Some(after.id),
        _ => None,
    }
}

/// How many facts lie after `after`, up to revision `upto`.
pub fn count_changed(conn: &Connection, after: Position, upto: i64) -> Result<u64, StoreError> {
    let first = match first_ingest_after(after) {
        Some(id) => conn
            .prepare_cached("SELECT count(*) FROM facts WHERE id > ?1 AND revision = 0")?
            .query_row([id], |r| r.get::<_, i64>(0))?,
        None => 0,
    };
    let later: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM facts \
             WHERE revision > 0 AND (revision, id) > (?1, ?2) AND revision <= ?3",
        )?
        .query_row(params![after.revision, after.id, upto], |r| r.get(0))?;
    Ok((first + later) as u64)
}

/// Reads changed facts back as responses: their texts and pricings through the
/// dimension tables, remembered from batch to batch.
#[derive(Default)]
pub struct ChangedFacts {
    dims: Dims,
    pricings: HashMap<Id, FactPrice>,
}

impl ChangedFacts {
    /// Up to `limit` facts after `after`, up to revision `upto`, in (revision, id) order.
    pub fn after(
        &mut self,
        conn: &Connection,
        after: Position,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<ChangedFact>, StoreError> {
        let columns = format!(
            "SELECT id, {COLUMNS}, (SELECT priced FROM pricings WHERE id = pricing), \
             replay_of IS NULL, dedup_key, revision FROM facts"
        );
        let read = |r: &rusqlite::Row| {
            Ok((
                r.get::<_, i64>(0)?,
                stored_row(r, 1)?,
                r.get::<_, bool>(24)?,
                r.get::<_, String>(25)?,
                r.get::<_, i64>(26)?,
            ))
        };
        // Revision 0 first, in id order, then the later revisions from their index.
        let mut rows = match first_ingest_after(after) {
            Some(id) => conn
                .prepare_cached(&format!(
                    "{columns} WHERE id > ?1 AND revision = 0 ORDER BY id LIMIT ?2"
                ))?
                .query_map(params![id, limit as i64], read)?
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        if rows.len() < limit {
            let more = conn
                .prepare_cached(&format!(
                    "{columns} WHERE revision > 0 AND (revision, id) > (?1, ?2) AND revision <= ?3 \
                     ORDER BY revision, id LIMIT ?4"
                ))?
                .query_map(
                    params![after.revision, after.id, upto, (limit - rows.len()) as i64],
                    read,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            rows.extend(more);
        }
        rows.into_iter()
            .map(|(id, row, billed, key, revision)| {
                let mut price = self.pricing(conn, row.pricing)?;
                price.cost_nanos = row.cost_nanos;
                price.savings_nanos = row.savings_nanos;
                Ok(ChangedFact {
                    position: Position { revision, id },
                    response: response_of(&mut self.dims, conn, key, &row)?,
                    price,
                    billed,
                })
            })
            .collect()
    }

    /// A `pricings` row (money left at 0); an id with no row is "not priced".
    fn pricing(&mut self, conn: &Connection, id: Id) -> Result<FactPrice, StoreError> {
        if let Some(p) = self.pricings.get(&id) {
            return Ok(p.clone());
        }
        let p = conn
            .prepare_cached(
                "SELECT priced, price_model, price_version, long_context, multiplier \
                 FROM pricings WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(FactPrice {
                    cost_nanos: 0,
                    savings_nanos: 0,
                    priced: r.get(0)?,
                    price_model: r.get(1)?,
                    price_version: r.get(2)?,
                    long_context: r.get(3)?,
                    multiplier: r.get(4)?,
                })
            })
            .optional()?
            .unwrap_or(FactPrice {
                cost_nanos: 0,
                savings_nanos: 0,
                priced: false,
                price_model: None,
                price_version: None,
                long_context: false,
                multiplier: 1.0,
            });
        self.pricings.insert(id, p.clone());
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{FactWriter, Pricing, Repricer};
    use crate::{OpenOptions, Store};
    use ctm_model::{message_key, Origin, Usage};

    fn response(msg: &str, ts: i64, output: u64) -> Response {
        Response {
            key: message_key(msg, "req"),
            timestamp_ms: ts,
            session_id: Some("s".into()),
            project_path: Some("/p".into()),
            model: Some("claude-opus-4-6".into()),
            usage: Usage {
                input_tokens: 1,
                output_tokens: output,
                ..Usage::default()
            },
            speed: None,
            service_tier: None,
            inference_geo: None,
            is_sidechain: false,
            agent_id: None,
            origin: Origin::Assistant,
            recorded_cost_usd: None,
            cc_version: None,
            source_path: None,
        }
    }

    fn price(r: &Response) -> Pricing {
        Pricing {
            cost_usd: r.usage.output_tokens as f64 * 1e-6,
            priced: true,
            price_model: None,
            price_version: "t".into(),
            long_context: false,
            multiplier: 1.0,
            cache_savings_usd: 0.0,
        }
    }

    fn write(store: &mut Store, rs: Vec<Response>) {
        let tx = store.write().unwrap();
        let mut w = FactWriter::new(&tx).unwrap();
        for r in rs {
            w.upsert(r, &price).unwrap();
        }
        w.finish().unwrap();
        tx.commit().unwrap();
    }

    fn changed(conn: &Connection, after: Position) -> Vec<ChangedFact> {
        let upto = last_revision(conn).unwrap();
        ChangedFacts::default()
            .after(conn, after, upto, 100)
            .unwrap()
    }

    fn keys(conn: &Connection, after: Position) -> Vec<String> {
        changed(conn, after)
            .into_iter()
            .map(|f| f.response.key)
            .collect()
    }

    /// A fact comes after a mark when it was inserted or changed after it, and never
    /// again when nothing changed; it comes back as it was written, money in
    /// nano-dollars.
    #[test]
    fn facts_changed_after_a_mark_come_again_and_only_they() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        write(&mut store, vec![response("a", 1, 1), response("b", 2, 3)]);
        let all = changed(store.conn(), Position::START);
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|f| f.billed));
        assert_eq!(all[1].response, response("b", 2, 3));
        assert_eq!(
            all[1].price,
            FactPrice {
                cost_nanos: 3_000,
                savings_nanos: 0,
                priced: true,
                price_model: None,
                price_version: Some("t".into()),
                long_context: false,
                multiplier: 1.0,
            }
        );
        let mark = all.last().unwrap().position;
        assert_eq!(count_changed(store.conn(), mark, i64::MAX).unwrap(), 0);

        // Re-sighting the same usage changes nothing; a later line with more output and a
        // new response come after the mark.
        write(&mut store, vec![response("a", 1, 1)]);
        assert!(keys(store.conn(), mark).is_empty());
        write(&mut store, vec![response("b", 2, 50), response("c", 3, 1)]);
        assert_eq!(
            keys(store.conn(), mark),
            vec![message_key("b", "req"), message_key("c", "req")]
        );

        // A new price is a change too.
        let mark = changed(store.conn(), mark).last().unwrap().position;
        let tx = store.write().unwrap();
        let mut repricer = Repricer::default();
        let a = repricer
            .responses_after(&tx, 0, 10)
            .unwrap()
            .into_iter()
            .find(|r| r.response.key == message_key("a", "req"))
            .unwrap();
        let mut p = price(&a.response);
        p.cost_usd = 9.0;
        assert!(repricer.set(&tx, a.id, &p).unwrap());
        tx.commit().unwrap();
        let again = changed(store.conn(), mark);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].response.key, message_key("a", "req"));
        assert_eq!(again[0].price.cost_nanos, 9_000_000_000);
    }

    /// A store's first ingest writes revision 0, which the revision index leaves out:
    /// a push reads those facts in id order, then the later revisions, and a mark
    /// between them or inside either part resumes exactly after it, batch by batch.
    #[test]
    fn a_first_ingest_is_revision_0_and_read_in_id_order_before_later_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        write(
            &mut store,
            vec![
                response("a", 3, 1),
                response("b", 1, 1),
                response("c", 2, 1),
            ],
        );
        let c = store.conn();
        let revisions: Vec<i64> = c
            .prepare("SELECT revision FROM facts ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(revisions, [0, 0, 0]);
        let indexed: i64 = c
            .query_row(
                "SELECT count(*) FROM facts INDEXED BY idx_facts_revision WHERE revision > 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 0);
        assert_eq!(last_revision(c).unwrap(), 0);
        // A later write: a new response and a change of the first one.
        write(&mut store, vec![response("d", 4, 1), response("a", 3, 9)]);
        let c = store.conn();
        assert_eq!(last_revision(c).unwrap(), 1);
        let all = changed(c, Position::START);
        let order: Vec<(&str, i64)> = all
            .iter()
            .map(|f| (&f.response.key[2..3], f.position.revision))
            .collect();
        assert_eq!(order, [("b", 0), ("c", 0), ("a", 1), ("d", 1)]);
        // One fact at a time from every mark: the same order, each once.
        let upto = last_revision(c).unwrap();
        let mut reader = ChangedFacts::default();
        let mut at = Position::START;
        let mut one_by_one = Vec::new();
        loop {
            assert_eq!(
                count_changed(c, at, upto).unwrap(),
                (all.len() - one_by_one.len()) as u64
            );
            let batch = reader.after(c, at, upto, 1).unwrap();
            let Some(f) = batch.last() else { break };
            at = f.position;
            one_by_one.push(f.position);
        }
        assert_eq!(
            one_by_one,
            all.iter().map(|f| f.position).collect::<Vec<_>>()
        );
    }

    /// Revisions never come back, even when the newest facts are deleted: a push mark
    /// keeps its number taken.
    #[test]
    fn revisions_stay_above_every_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db"), &OpenOptions::default()).unwrap();
        write(&mut store, vec![response("a", 1, 1)]);
        let facts = changed(store.conn(), Position::START);
        let tx = store.write().unwrap();
        save_mark(
            &tx,
            "dest",
            &Mark {
                database_id: "db".into(),
                machine_id: 1,
                position: facts[0].position,
                pushed_at_ms: 5,
                responses: 1,
            },
        )
        .unwrap();
        tx.execute("DELETE FROM facts", []).unwrap();
        tx.commit().unwrap();
        write(&mut store, vec![response("z", 9, 1)]);
        let m = mark(store.conn(), "dest").unwrap().unwrap();
        assert_eq!(m.responses, 1);
        assert_eq!(
            keys(store.conn(), m.position),
            vec![message_key("z", "req")]
        );
    }
}
