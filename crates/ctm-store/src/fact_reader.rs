//! Reading billed facts as the aggregates count them ([`Fact`]): for the rollup's
//! rebuild and check, for a quarter a zone splits, and for the reports that show single
//! responses (a session's, the active block's, an export).

use std::collections::HashSet;

use ctm_aggregate::{Fact, Id, Sums};
use rusqlite::Connection;

use crate::{dims, StoreError};

/// The columns [`FactReader::read`] reads, in order.
pub const FACT_COLUMNS: &str = "id, ts, session, project, model, input_tokens, output_tokens, \
     cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, web_search_requests, \
     cost_nanos, savings_nanos, pricing";

/// Which facts a read keeps, by dimension id (`None`: every one).
#[derive(Debug, Clone, Default)]
pub struct Keep {
    pub projects: Option<HashSet<Id>>,
    pub models: Option<HashSet<Id>>,
}

impl Keep {
    pub fn all() -> Keep {
        Keep::default()
    }

    pub fn is_all(&self) -> bool {
        self.projects.is_none() && self.models.is_none()
    }

    pub fn keeps(&self, project: Id, model: Id) -> bool {
        self.projects.as_ref().is_none_or(|p| p.contains(&project))
            && self.models.as_ref().is_none_or(|m| m.contains(&model))
    }
}

/// Reads rows of [`FACT_COLUMNS`] into facts.
pub struct FactReader {
    /// Pricing ids whose responses have no price.
    unpriced: HashSet<Id>,
}

impl FactReader {
    pub fn new(conn: &Connection) -> Result<FactReader, StoreError> {
        Ok(FactReader {
            unpriced: dims::unpriced_pricings(conn)?.into_iter().collect(),
        })
    }

    pub fn read(&self, r: &rusqlite::Row) -> rusqlite::Result<Fact> {
        let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        let pricing: Id = r.get(13)?;
        Ok(Fact {
            id: r.get(0)?,
            ts: r.get(1)?,
            session: r.get(2)?,
            project: r.get(3)?,
            model: r.get(4)?,
            sums: Sums {
                responses: 1,
                input_tokens: count(5)?,
                output_tokens: count(6)?,
                cache_write_5m_tokens: count(7)?,
                cache_write_1h_tokens: count(8)?,
                cache_read_tokens: count(9)?,
                web_search_requests: count(10)?,
                cost_nanos: r.get(11)?,
                savings_nanos: r.get(12)?,
                unpriced_responses: u64::from(self.unpriced.contains(&pricing)),
            },
        })
    }

    /// The billed facts `sql` (a `WHERE` clause over `facts`, then an order) selects
    /// that `keep` keeps.
    pub fn billed(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        keep: &Keep,
    ) -> Result<Vec<Fact>, StoreError> {
        let mut out = Vec::new();
        self.visit_billed(conn, sql, params, keep, |f| {
            out.push(f);
            Ok::<_, StoreError>(())
        })?;
        Ok(out)
    }

    /// [`FactReader::billed`], handed to `visit` one at a time as the statement yields
    /// them: memory stays flat whatever the range. One statement, so one committed state.
    pub fn visit_billed<E: From<StoreError>>(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        keep: &Keep,
        mut visit: impl FnMut(Fact) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {FACT_COLUMNS} FROM facts WHERE replay_of IS NULL AND {sql}"
            ))
            .map_err(StoreError::from)?;
        let mut rows = stmt.query(params).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let f = self.read(r).map_err(StoreError::from)?;
            if keep.keeps(f.project, f.model) {
                visit(f)?;
            }
        }
        Ok(())
    }
}

/// Billed facts with `lo <= ts < hi` that `keep` keeps, oldest first (ties in row order).
pub fn billed_between(
    conn: &Connection,
    lo: i64,
    hi: i64,
    keep: &Keep,
) -> Result<Vec<Fact>, StoreError> {
    FactReader::new(conn)?.billed(conn, "ts >= ?1 AND ts < ?2 ORDER BY ts, id", [lo, hi], keep)
}

/// Every billed fact, in row order.
pub fn billed_all(conn: &Connection) -> Result<Vec<Fact>, StoreError> {
    FactReader::new(conn)?.billed(conn, "1 ORDER BY id", [], &Keep::all())
}

/// A session's billed facts, oldest first.
pub fn billed_of_session(conn: &Connection, session: Id) -> Result<Vec<Fact>, StoreError> {
    FactReader::new(conn)?.billed(
        conn,
        "session = ?1 ORDER BY ts, id",
        [session],
        &Keep::all(),
    )
}
