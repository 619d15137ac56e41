//! The rollup (`ctm.rollup`): sums of the billed responses per slot (see [`slot_of`]),
//! machine, session, project and model, with each group's first and last response.
//!
//! A change to responses adds its new form's figures and takes away its old form's
//! ([`Deltas`]), in the transaction that changes them: sums are integers (money in
//! nano-dollars), so the order of additions never matters and the rollup equals a
//! recompute from the responses exactly, which [`check`] proves. A group's first and
//! last response only grow by additions; when a change takes away the response at a
//! group's edge, the edge is read again from the responses.

use std::collections::HashMap;

use postgres::{GenericClient, Transaction};

use ctm_aggregate::slot_of;

use crate::responses::{Dims, Merged};

/// Figures of a group of billed responses (or a change to them: signed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub responses: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub cache_read_tokens: i64,
    pub web_search_requests: i64,
    pub cost_nanos: i64,
    pub cache_savings_nanos: i64,
    pub unpriced_responses: i64,
}

/// The names of [`Sums`]' columns, in field order.
pub const SUM_COLUMNS: [&str; 10] = [
    "responses",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
    "cost_nanos",
    "cache_savings_nanos",
    "unpriced_responses",
];

impl Sums {
    fn of(m: &Merged, sign: i64) -> Sums {
        let u = &m.response.usage;
        Sums {
            responses: sign,
            input_tokens: sign * u.input_tokens as i64,
            output_tokens: sign * u.output_tokens as i64,
            cache_write_5m_tokens: sign * u.cache_write_5m_tokens as i64,
            cache_write_1h_tokens: sign * u.cache_write_1h_tokens as i64,
            cache_read_tokens: sign * u.cache_read_tokens as i64,
            web_search_requests: sign * u.web_search_requests as i64,
            cost_nanos: sign * m.price.cost_nanos,
            cache_savings_nanos: sign * m.price.cache_savings_nanos,
            unpriced_responses: if m.price.priced { 0 } else { sign },
        }
    }

    pub fn add(&mut self, o: &Sums) {
        self.responses += o.responses;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_write_5m_tokens += o.cache_write_5m_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.web_search_requests += o.web_search_requests;
        self.cost_nanos += o.cost_nanos;
        self.cache_savings_nanos += o.cache_savings_nanos;
        self.unpriced_responses += o.unpriced_responses;
    }

    fn fields(&self) -> [i64; 10] {
        [
            self.responses,
            self.input_tokens,
            self.output_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.cache_read_tokens,
            self.web_search_requests,
            self.cost_nanos,
            self.cache_savings_nanos,
            self.unpriced_responses,
        ]
    }

    /// From a row's columns `at..at + 10`, in [`SUM_COLUMNS`] order.
    pub fn from_row(r: &postgres::Row, at: usize) -> Sums {
        let g = |i: usize| r.get::<_, i64>(at + i);
        Sums {
            responses: g(0),
            input_tokens: g(1),
            output_tokens: g(2),
            cache_write_5m_tokens: g(3),
            cache_write_1h_tokens: g(4),
            cache_read_tokens: g(5),
            web_search_requests: g(6),
            cost_nanos: g(7),
            cache_savings_nanos: g(8),
            unpriced_responses: g(9),
        }
    }
}

/// A change to one group.
#[derive(Debug, Default)]
struct Delta {
    sums: Sums,
    /// Instants of the responses added to and taken from it.
    added: Vec<i64>,
    removed: Vec<i64>,
}

impl Delta {
    fn first_added(&self) -> i64 {
        self.added.iter().copied().min().unwrap_or(i64::MAX)
    }

    fn last_added(&self) -> i64 {
        self.added.iter().copied().max().unwrap_or(i64::MIN)
    }

    /// Whether a response left from where the group's first or last one may have been:
    /// an instant taken away and not added back (a changed response keeps its instant).
    fn edges_may_move(&self) -> bool {
        let mut added = self.added.clone();
        added.sort_unstable();
        self.removed.iter().any(|ts| match added.binary_search(ts) {
            Ok(i) => {
                added.remove(i);
                false
            }
            Err(_) => true,
        })
    }
}

/// The rollup's changes within one transaction, by (slot, machine, session, project,
/// model).
#[derive(Debug, Default)]
pub struct Deltas {
    groups: HashMap<[i64; 5], Delta>,
}

impl Deltas {
    pub fn add(&mut self, m: &Merged, dims: &Dims) {
        self.change(m, dims, 1);
    }

    pub fn remove(&mut self, m: &Merged, dims: &Dims) {
        self.change(m, dims, -1);
    }

    fn change(&mut self, m: &Merged, dims: &Dims, sign: i64) {
        let r = &m.response;
        let ts = r.timestamp_ms;
        let key = [
            slot_of(ts),
            i64::from(m.machine_id),
            i64::from(dims.session(r)),
            i64::from(dims.project(r)),
            i64::from(dims.model(r)),
        ];
        let d = self.groups.entry(key).or_default();
        d.sums.add(&Sums::of(m, sign));
        if sign > 0 {
            d.added.push(ts);
        } else {
            d.removed.push(ts);
        }
    }

    /// Writes the changes.
    pub fn write(self, tx: &mut Transaction) -> Result<(), postgres::Error> {
        write_table(tx, &ROLLUP, self.groups)
    }
}

/// One rollup table: its name, its key columns with their types, and how the responses
/// of one group are found (for its edges).
struct Table {
    name: &'static str,
    key: &'static [(&'static str, &'static str)],
    responses_of_group: &'static str,
}

const ROLLUP: Table = Table {
    name: "ctm.rollup",
    key: &[
        ("slot", "bigint"),
        ("machine_id", "integer"),
        ("session_ref", "integer"),
        ("project_id", "integer"),
        ("model_id", "integer"),
    ],
    responses_of_group: "r.session_ref = k.session_ref AND r.ts >= $LO AND r.ts < $HI \
         AND r.machine_id = k.machine_id AND r.project_id = k.project_id AND r.model_id = k.model_id \
         AND r.billed",
};

fn write_table<const N: usize>(
    tx: &mut Transaction,
    table: &Table,
    deltas: HashMap<[i64; N], Delta>,
) -> Result<(), postgres::Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    debug_assert_eq!(table.key.len(), N);
    // One array per column, keys as bigint (cast back to their types): one statement
    // per table whatever the number of groups.
    let mut keys: Vec<Vec<i64>> = (0..N).map(|_| Vec::with_capacity(deltas.len())).collect();
    let mut values: Vec<Vec<i64>> = (0..12).map(|_| Vec::with_capacity(deltas.len())).collect();
    let mut edges: Vec<Vec<i64>> = vec![Vec::new(); N];
    for (key, d) in &deltas {
        for (col, v) in keys.iter_mut().zip(key) {
            col.push(*v);
        }
        let figures = d.sums.fields();
        for (col, v) in values
            .iter_mut()
            .zip(figures.into_iter().chain([d.first_added(), d.last_added()]))
        {
            col.push(v);
        }
        if d.edges_may_move() {
            for (col, v) in edges.iter_mut().zip(key) {
                col.push(*v);
            }
        }
    }
    let key_names: Vec<&str> = table.key.iter().map(|(c, _)| *c).collect();
    let value_names: Vec<&str> = SUM_COLUMNS
        .iter()
        .copied()
        .chain(["first_ts", "last_ts"])
        .collect();
    let arrays = |n: usize| -> String {
        (1..=n)
            .map(|i| format!("${i}::bigint[]"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let key_casts: Vec<String> = table
        .key
        .iter()
        .map(|(c, t)| format!("u.{c}::{t}"))
        .collect();
    let sets: Vec<String> = SUM_COLUMNS
        .iter()
        .map(|c| format!("{c} = t.{c} + excluded.{c}"))
        .collect();
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
    params.extend(
        keys.iter()
            .map(|k| k as &(dyn postgres::types::ToSql + Sync)),
    );
    params.extend(
        values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync)),
    );
    tx.execute(
        &format!(
            "INSERT INTO {name} AS t ({keys}, {values}) \
             SELECT {key_casts}, {u_values} FROM unnest({arrays}) AS u({keys}, {values}) \
             ON CONFLICT ({keys}) DO UPDATE SET {sets}, \
             first_ts = least(t.first_ts, excluded.first_ts), last_ts = greatest(t.last_ts, excluded.last_ts)",
            name = table.name,
            keys = key_names.join(", "),
            values = value_names.join(", "),
            key_casts = key_casts.join(", "),
            u_values = value_names.iter().map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", "),
            arrays = arrays(N + 12),
            sets = sets.join(", "),
        ),
        &params,
    )?;
    let key_alias = format!("k({})", key_names.join(", "));
    let match_on = |other: &str| -> String {
        key_names
            .iter()
            .map(|c| format!("t.{c} = {other}.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    // Groups whose last response went.
    tx.execute(
        &format!(
            "DELETE FROM {name} t USING unnest({arrays}) AS {key_alias} WHERE {on} AND t.responses = 0",
            name = table.name,
            arrays = arrays(N),
            on = match_on("k"),
        ),
        &params[..N],
    )?;
    if !edges[0].is_empty() {
        let edge_params: Vec<&(dyn postgres::types::ToSql + Sync)> = edges
            .iter()
            .map(|k| k as &(dyn postgres::types::ToSql + Sync))
            .collect();
        tx.execute(
            &format!(
                "UPDATE {name} t SET first_ts = b.lo, last_ts = b.hi FROM ( \
                 SELECT {k_names}, min(r.ts) AS lo, max(r.ts) AS hi \
                 FROM unnest({arrays}) AS {key_alias} JOIN ctm.responses r ON {group} \
                 GROUP BY {k_names}) b WHERE {on}",
                name = table.name,
                k_names = key_names
                    .iter()
                    .map(|c| format!("k.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                arrays = arrays(N),
                group = table
                    .responses_of_group
                    .replace("$LO", &SLOT_START.replace("{s}", "k.slot"))
                    .replace("$HI", &SLOT_END.replace("{s}", "k.slot")),
                on = match_on("b"),
            ),
            &edge_params,
        )?;
    }
    Ok(())
}

/// [`slot_of`] in SQL, of the bigint `{t}` (`>>` and `&` floor, also before 1970).
const SLOT_OF: &str = "(2 * ({t} - (({t} % 900000) + 900000) % 900000) / 900000 + ((({t} % 900000) + 900000) % 900000 <> 0)::int)";
/// The first and the end instant of slot `{s}`, in SQL.
const SLOT_START: &str = "(({s} >> 1) * 900000 + ({s} & 1))";
const SLOT_END: &str =
    "(CASE WHEN {s} & 1 = 0 THEN ({s} >> 1) * 900000 + 1 ELSE (({s} >> 1) + 1) * 900000 END)";

/// Differences between the rollup and a recompute from the responses (empty: equal).
pub fn check(client: &mut impl GenericClient) -> Result<Vec<String>, postgres::Error> {
    let sums = "count(*), sum(input_tokens)::bigint, sum(output_tokens)::bigint, \
        sum(cache_write_5m_tokens)::bigint, sum(cache_write_1h_tokens)::bigint, sum(cache_read_tokens)::bigint, \
        sum(web_search_requests)::bigint, sum(cost_nanos)::bigint, sum(cache_savings_nanos)::bigint, \
        count(*) FILTER (WHERE NOT priced), min(ts), max(ts)";
    let slot = SLOT_OF.replace("{t}", "ts");
    let columns = [&SUM_COLUMNS[..], &["first_ts", "last_ts"]]
        .concat()
        .join(", ");
    let key = "machine_id, session_ref, project_id, model_id";
    let want = format!(
        "SELECT {slot} AS slot, {key}, {sums} FROM ctm.responses WHERE billed GROUP BY 1, {key}"
    );
    let have = format!("SELECT slot, {key}, {columns} FROM ctm.rollup");
    let rows = client.query(
        &format!(
            "SELECT 'missing or different in the rollup', w.* FROM ({want} EXCEPT {have}) w \
             UNION ALL SELECT 'in the rollup but not the responses', h.* FROM ({have} EXCEPT {want}) h LIMIT 20"
        ),
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let what: String = r.get(0);
            let slot: i64 = r.get(1);
            let machine: i32 = r.get(2);
            let session: i32 = r.get(3);
            format!("{what}: slot {slot}, machine {machine}, session {session}")
        })
        .collect())
}
