//! The team database's responses and their copies as stored: reading them ([`load`]),
//! and the one way they change ([`apply`]), which keeps the rollups equal to the billed
//! responses in the same transaction. What a copy and a merged response are, and the
//! merge rule, are [`crate::copies`]'.

use std::collections::HashMap;
use std::sync::Arc;

use ctm_aggregate::{quarter_of_slot, QUARTER_MS};
use ctm_model::{Origin, Response, Usage};
use postgres::Transaction;

use crate::copies::{merge, Copy, Dims, Machines, Merged, Price};
use crate::rollups::Deltas;

/// A response's columns after its key and owner, shared by `ctm.responses` and
/// `ctm.sightings`, with their SQL array types (for `unnest`).
const VALUE_COLUMNS: &[(&str, &str)] = &[
    ("ts", "bigint"),
    ("session_ref", "integer"),
    ("project_id", "integer"),
    ("model_id", "integer"),
    ("input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("cache_write_5m_tokens", "bigint"),
    ("cache_write_1h_tokens", "bigint"),
    ("cache_read_tokens", "bigint"),
    ("web_search_requests", "bigint"),
    ("web_fetch_requests", "bigint"),
    ("speed", "text"),
    ("service_tier", "text"),
    ("inference_geo", "text"),
    ("is_sidechain", "boolean"),
    ("agent_id", "text"),
    ("origin", "smallint"),
    ("cc_version", "text"),
    ("billed", "boolean"),
    ("cost_nanos", "bigint"),
    ("priced", "boolean"),
    ("price_model", "text"),
    ("price_version", "text"),
    ("long_context", "boolean"),
    ("price_multiplier", "double precision"),
    ("cache_savings_nanos", "bigint"),
];

/// The columns a copy is read from (after `key, machine_id`), with the texts of its ids.
fn select_values(alias: &str) -> String {
    VALUE_COLUMNS
        .iter()
        .map(|(c, _)| format!("{alias}.{c}"))
        .chain([
            "s.session_id".to_owned(),
            "p.path".to_owned(),
            "m.name".to_owned(),
        ])
        .collect::<Vec<_>>()
        .join(", ")
}

fn joins(alias: &str) -> String {
    format!(
        "LEFT JOIN ctm.sessions s ON s.id = {alias}.session_ref \
         JOIN ctm.projects p ON p.id = {alias}.project_id \
         JOIN ctm.models m ON m.id = {alias}.model_id"
    )
}

/// A copy from a row of `key, machine_id, <select_values>`.
fn copy_from_row(r: &postgres::Row, dims: &mut Dims) -> Copy {
    let at = 2;
    let n = VALUE_COLUMNS.len();
    let get_u = |i: usize| r.get::<_, i64>(at + i) as u64;
    let session: Option<String> = r.get(at + n);
    let project: Option<String> = r.get(at + n + 1);
    let model: Option<String> = r.get(at + n + 2);
    let session: Option<Arc<str>> = session.map(Into::into);
    let project: Option<Arc<str>> = project.map(Into::into);
    let model: Option<Arc<str>> = model.map(Into::into);
    dims.sessions.insert(session.clone(), r.get(at + 1));
    dims.projects.insert(project.clone(), r.get(at + 2));
    dims.models.insert(model.clone(), r.get(at + 3));
    let text = |i: usize| r.get::<_, Option<String>>(at + i).map(Arc::<str>::from);
    Copy {
        machine_id: r.get(1),
        response: Response {
            key: r.get(0),
            timestamp_ms: r.get(at),
            session_id: session,
            project_path: project,
            model,
            usage: Usage {
                input_tokens: get_u(4),
                output_tokens: get_u(5),
                cache_write_5m_tokens: get_u(6),
                cache_write_1h_tokens: get_u(7),
                cache_read_tokens: get_u(8),
                web_search_requests: get_u(9),
                web_fetch_requests: get_u(10),
            },
            speed: text(11),
            service_tier: text(12),
            inference_geo: text(13),
            is_sidechain: r.get(at + 14),
            agent_id: text(15),
            origin: if r.get::<_, i16>(at + 16) == 1 {
                Origin::AgentEcho
            } else {
                Origin::Assistant
            },
            recorded_cost_usd: None,
            cc_version: text(17),
            source_path: None,
        },
        billed: r.get(at + 18),
        price: Price {
            cost_nanos: r.get(at + 19),
            priced: r.get(at + 20),
            price_model: r.get(at + 21),
            price_version: r.get(at + 22),
            long_context: r.get(at + 23),
            multiplier: r.get(at + 24),
            cache_savings_nanos: r.get(at + 25),
        },
    }
}

/// What the database holds for one response.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The response as counted (`None`: not in the database).
    pub merged: Option<Merged>,
    /// Its copies: the one machine's when not shared, else every machine's.
    pub copies: Vec<Copy>,
}

/// What the database holds for each of these keys (absent keys get an empty [`Stored`]).
pub fn load(
    tx: &mut Transaction,
    keys: &[String],
    dims: &mut Dims,
) -> Result<HashMap<String, Stored>, postgres::Error> {
    let mut out: HashMap<String, Stored> = HashMap::with_capacity(keys.len());
    let mut shared = Vec::new();
    for r in tx.query(
        &format!(
            "SELECT r.key, r.machine_id, {}, r.shared FROM ctm.responses r {} WHERE r.key = ANY($1)",
            select_values("r"),
            joins("r")
        ),
        &[&keys],
    )? {
        let is_shared: bool = r.get(2 + VALUE_COLUMNS.len() + 3);
        let copy = copy_from_row(&r, dims);
        let merged = Merged {
            machine_id: copy.machine_id,
            shared: is_shared,
            response: copy.response.clone(),
            billed: copy.billed,
            price: copy.price.clone(),
        };
        let key = copy.response.key.clone();
        let copies = if is_shared {
            shared.push(key.clone());
            Vec::new()
        } else {
            vec![copy]
        };
        out.insert(
            key,
            Stored {
                merged: Some(merged),
                copies,
            },
        );
    }
    if !shared.is_empty() {
        for r in tx.query(
            &format!(
                "SELECT c.key, c.machine_id, {} FROM ctm.sightings c {} WHERE c.key = ANY($1)",
                select_values("c"),
                joins("c")
            ),
            &[&shared],
        )? {
            let copy = copy_from_row(&r, dims);
            if let Some(s) = out.get_mut(&copy.response.key) {
                s.copies.push(copy);
            }
        }
    }
    for k in keys {
        out.entry(k.clone()).or_default();
    }
    Ok(out)
}

/// The billed responses of these rollup rows (`--reprice` for rows it cannot price
/// from their sums): one array per key column, in [`crate::rollups::ROLLUP_KEY`] order.
pub fn billed_of_rollup_rows(
    tx: &mut Transaction,
    keys: &[Vec<i64>; 8],
    dims: &mut Dims,
) -> Result<Vec<Copy>, postgres::Error> {
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = keys
        .iter()
        .map(|k| k as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let rows = tx.query(
        &format!(
            "SELECT r.key, r.machine_id, {} FROM {} JOIN ctm.responses r ON {} {}",
            select_values("r"),
            crate::rollups::typed_rollup_keys(),
            crate::rollups::responses_of_rollup_row(),
            joins("r")
        ),
        &params,
    )?;
    Ok(rows.iter().map(|r| copy_from_row(r, dims)).collect())
}

/// One response's change: what the database holds, and its copies from now on (none:
/// the response goes).
pub struct Change {
    pub stored: Stored,
    pub copies: Vec<Copy>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Responses the database did not have.
    pub added: u64,
    /// Responses whose counted form or copies changed.
    pub changed: u64,
    /// Responses the changes left as they were.
    pub unchanged: u64,
    /// Responses removed (no copy left).
    pub removed: u64,
}

/// Writes changes to responses, their copies and the rollups, in the caller's
/// transaction. `dims` must know every text of the new copies.
pub fn apply(
    tx: &mut Transaction,
    changes: Vec<Change>,
    machines: &Machines,
    dims: &Dims,
) -> Result<Applied, postgres::Error> {
    let mut stats = Applied::default();
    let mut upsert_responses = Columns::default();
    let mut delete_responses: Vec<String> = Vec::new();
    let mut upsert_copies = Columns::default();
    // (key, machine) of copies to drop, and keys whose copies all go.
    let mut delete_copies: (Vec<String>, Vec<i32>) = (Vec::new(), Vec::new());
    let mut unshare: Vec<String> = Vec::new();
    let mut deltas = Deltas::default();
    for Change { stored, copies } in changes {
        let merged = (!copies.is_empty()).then(|| merge(&copies, machines));
        let copies_changed = stored.copies != copies;
        if merged == stored.merged && !copies_changed {
            stats.unchanged += 1;
            continue;
        }
        match (&stored.merged, &merged) {
            (None, Some(_)) => stats.added += 1,
            (Some(_), None) => stats.removed += 1,
            _ => stats.changed += 1,
        }
        if let Some(old) = stored.merged.as_ref().filter(|m| m.billed) {
            deltas.remove(old, dims);
        }
        if let Some(new) = merged.as_ref().filter(|m| m.billed) {
            deltas.add(new, dims);
        }
        match &merged {
            Some(m) if merged != stored.merged => upsert_responses.push_merged(m, dims),
            Some(_) => {}
            None => delete_responses.push(stored.response_key().to_owned()),
        }
        let was_shared = stored.merged.as_ref().is_some_and(|m| m.shared);
        if copies.len() > 1 {
            for c in &copies {
                let before = stored.copies.iter().find(|s| s.machine_id == c.machine_id);
                // A response that just became shared writes every copy.
                if !was_shared || before != Some(c) {
                    upsert_copies.push_copy(c, dims);
                }
            }
            for gone in stored
                .copies
                .iter()
                .filter(|s| !copies.iter().any(|c| c.machine_id == s.machine_id))
            {
                delete_copies.0.push(gone.response.key.clone());
                delete_copies.1.push(gone.machine_id);
            }
        } else if was_shared {
            unshare.push(stored.response_key().to_owned());
        }
    }
    upsert_responses.write_responses(tx)?;
    if !delete_responses.is_empty() {
        tx.execute(
            "DELETE FROM ctm.responses WHERE key = ANY($1)",
            &[&delete_responses],
        )?;
    }
    upsert_copies.write_copies(tx)?;
    if !delete_copies.0.is_empty() {
        tx.execute(
            "DELETE FROM ctm.sightings c USING unnest($1::text[], $2::integer[]) AS d(key, machine_id) \
             WHERE c.key = d.key AND c.machine_id = d.machine_id",
            &[&delete_copies.0, &delete_copies.1],
        )?;
    }
    if !unshare.is_empty() {
        tx.execute("DELETE FROM ctm.sightings WHERE key = ANY($1)", &[&unshare])?;
    }
    deltas.write(tx)?;
    Ok(stats)
}

impl Stored {
    fn response_key(&self) -> &str {
        self.merged
            .as_ref()
            .map(|m| m.response.key.as_str())
            .or_else(|| self.copies.first().map(|c| c.response.key.as_str()))
            .unwrap_or("")
    }
}

/// Rows to write, one vector per column (bound as arrays and `unnest`ed: one statement
/// per batch instead of one per row).
#[derive(Default)]
struct Columns {
    key: Vec<String>,
    machine_id: Vec<i32>,
    shared: Vec<bool>,
    ts: Vec<i64>,
    session_ref: Vec<i32>,
    project_id: Vec<i32>,
    model_id: Vec<i32>,
    counts: [Vec<i64>; 7],
    speed: Vec<Option<String>>,
    service_tier: Vec<Option<String>>,
    inference_geo: Vec<Option<String>>,
    is_sidechain: Vec<bool>,
    agent_id: Vec<Option<String>>,
    origin: Vec<i16>,
    cc_version: Vec<Option<String>>,
    billed: Vec<bool>,
    cost_nanos: Vec<i64>,
    priced: Vec<bool>,
    price_model: Vec<Option<String>>,
    price_version: Vec<String>,
    long_context: Vec<bool>,
    multiplier: Vec<f64>,
    cache_savings_nanos: Vec<i64>,
}

fn owned(t: &Option<Arc<str>>) -> Option<String> {
    t.as_deref().map(str::to_owned)
}

impl Columns {
    fn push(
        &mut self,
        machine_id: i32,
        shared: bool,
        r: &Response,
        billed: bool,
        p: &Price,
        dims: &Dims,
    ) {
        let u = &r.usage;
        self.key.push(r.key.clone());
        self.machine_id.push(machine_id);
        self.shared.push(shared);
        self.ts.push(r.timestamp_ms);
        self.session_ref.push(dims.session(r));
        self.project_id.push(dims.project(r));
        self.model_id.push(dims.model(r));
        for (col, v) in self.counts.iter_mut().zip(u.counts()) {
            col.push(v as i64);
        }
        self.speed.push(owned(&r.speed));
        self.service_tier.push(owned(&r.service_tier));
        self.inference_geo.push(owned(&r.inference_geo));
        self.is_sidechain.push(r.is_sidechain);
        self.agent_id.push(owned(&r.agent_id));
        self.origin.push(match r.origin {
            Origin::Assistant => 0,
            Origin::AgentEcho => 1,
        });
        self.cc_version.push(owned(&r.cc_version));
        self.billed.push(billed);
        self.cost_nanos.push(p.cost_nanos);
        self.priced.push(p.priced);
        self.price_model.push(p.price_model.clone());
        self.price_version.push(p.price_version.clone());
        self.long_context.push(p.long_context);
        self.multiplier.push(p.multiplier);
        self.cache_savings_nanos.push(p.cache_savings_nanos);
    }

    fn push_merged(&mut self, m: &Merged, dims: &Dims) {
        self.push(
            m.machine_id,
            m.shared,
            &m.response,
            m.billed,
            &m.price,
            dims,
        );
    }

    fn push_copy(&mut self, c: &Copy, dims: &Dims) {
        self.push(c.machine_id, false, &c.response, c.billed, &c.price, dims);
    }

    /// The value columns' parameters, in [`VALUE_COLUMNS`] order.
    fn values(&self) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        let mut v: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &self.ts,
            &self.session_ref,
            &self.project_id,
            &self.model_id,
        ];
        for c in &self.counts {
            v.push(c);
        }
        v.extend([
            &self.speed as &(dyn postgres::types::ToSql + Sync),
            &self.service_tier,
            &self.inference_geo,
            &self.is_sidechain,
            &self.agent_id,
            &self.origin,
            &self.cc_version,
            &self.billed,
            &self.cost_nanos,
            &self.priced,
            &self.price_model,
            &self.price_version,
            &self.long_context,
            &self.multiplier,
            &self.cache_savings_nanos,
        ]);
        v
    }

    fn write_responses(&self, tx: &mut Transaction) -> Result<(), postgres::Error> {
        if self.key.is_empty() {
            return Ok(());
        }
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            vec![&self.key, &self.machine_id, &self.shared];
        params.extend(self.values());
        let sql = upsert_sql(
            "ctm.responses",
            &[
                ("key", "text"),
                ("machine_id", "integer"),
                ("shared", "boolean"),
            ],
            "key",
            ", pushed_at = now()",
        );
        tx.execute(&sql, &params)?;
        Ok(())
    }

    fn write_copies(&self, tx: &mut Transaction) -> Result<(), postgres::Error> {
        if self.key.is_empty() {
            return Ok(());
        }
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            vec![&self.key, &self.machine_id];
        params.extend(self.values());
        let sql = upsert_sql(
            "ctm.sightings",
            &[("key", "text"), ("machine_id", "integer")],
            "key, machine_id",
            "",
        );
        tx.execute(&sql, &params)?;
        Ok(())
    }
}

/// `INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO UPDATE` of `leading` then the
/// value columns.
fn upsert_sql(table: &str, leading: &[(&str, &str)], conflict: &str, extra_set: &str) -> String {
    let all: Vec<(&str, &str)> = leading.iter().chain(VALUE_COLUMNS).copied().collect();
    let names: Vec<&str> = all.iter().map(|(c, _)| *c).collect();
    let arrays: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, (_, t))| format!("${}::{t}[]", i + 1))
        .collect();
    let conflict_columns: Vec<&str> = conflict.split(", ").collect();
    let sets: Vec<String> = names
        .iter()
        .filter(|c| !conflict_columns.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT * FROM unnest({}) ON CONFLICT ({conflict}) DO UPDATE SET {}{extra_set}",
        names.join(", "),
        arrays.join(", "),
        sets.join(", ")
    )
}

/// The instants `[lo, hi)` of a slot ([`slot_of`], the local stores' rollup slot).
pub fn slot_span(slot: i64) -> (i64, i64) {
    let start = quarter_of_slot(slot) * QUARTER_MS;
    if slot.rem_euclid(2) == 0 {
        (start, start + 1)
    } else {
        (start + 1, start + QUARTER_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_aggregate::slot_of;

    #[test]
    fn slots_split_a_quarter_hour_after_its_first_millisecond_also_before_1970() {
        assert_eq!(slot_of(0), 0);
        assert_eq!(slot_of(1), 1);
        assert_eq!(slot_of(QUARTER_MS - 1), 1);
        assert_eq!(slot_of(QUARTER_MS), 2);
        assert_eq!(slot_of(-1), -1);
        assert_eq!(slot_of(-QUARTER_MS), -2);
        for ts in [
            -QUARTER_MS - 1,
            -QUARTER_MS,
            -1,
            0,
            1,
            7 * QUARTER_MS,
            7 * QUARTER_MS + 5,
        ] {
            let (lo, hi) = slot_span(slot_of(ts));
            assert!(lo <= ts && ts < hi, "{ts} in [{lo}, {hi})");
        }
    }

    #[test]
    fn upserts_name_every_column_once() {
        let sql = upsert_sql("t", &[("key", "text")], "key", "");
        assert_eq!(sql.matches("$").count(), VALUE_COLUMNS.len() + 1);
        assert!(!sql.contains("key = excluded.key"));
        assert!(sql.contains("cost_nanos = excluded.cost_nanos"));
    }
}
