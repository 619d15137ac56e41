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

use crate::copies::{Dims, Merged};

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
    /// (instant, prompt tokens) of the responses added to and taken from it.
    added: Vec<(i64, i64)>,
    removed: Vec<(i64, i64)>,
}

impl Delta {
    /// The first and last instant, the smallest and largest prompt added.
    fn added_edges(&self) -> [i64; 4] {
        let mut e = [i64::MAX, i64::MIN, i64::MAX, i64::MIN];
        for &(ts, prompt) in &self.added {
            e = [
                e[0].min(ts),
                e[1].max(ts),
                e[2].min(prompt),
                e[3].max(prompt),
            ];
        }
        e
    }

    /// Whether a response left from where the group's first or last one, or its smallest
    /// or largest prompt, may have been: one taken away and not added back (a changed
    /// response usually keeps its instant and prompt).
    fn edges_may_move(&self) -> bool {
        let mut added = self.added.clone();
        added.sort_unstable();
        self.removed.iter().any(|x| match added.binary_search(x) {
            Ok(i) => {
                added.remove(i);
                false
            }
            Err(_) => true,
        })
    }
}

/// A response's prompt: what a band's threshold is compared with (`ctm-pricing`).
pub fn prompt_tokens(u: &ctm_model::Usage) -> i64 {
    (u.input_tokens + u.cache_write_5m_tokens + u.cache_write_1h_tokens + u.cache_read_tokens)
        as i64
}

/// The rollups' changes within one transaction: the rollup's by (slot, machine,
/// session, project, model, fast, us, long context), the session rollup's by (session,
/// machine, project, model).
#[derive(Debug, Default)]
pub struct Deltas {
    slots: HashMap<[i64; 8], Delta>,
    sessions: HashMap<[i64; 4], Delta>,
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
        let (machine, session, project, model) = (
            i64::from(m.machine_id),
            i64::from(dims.session(r)),
            i64::from(dims.project(r)),
            i64::from(dims.model(r)),
        );
        let flags = PriceFlags::of(m);
        let at = (ts, prompt_tokens(&r.usage));
        let sums = Sums::of(m, sign);
        let slot_key = [
            slot_of(ts),
            machine,
            session,
            project,
            model,
            i64::from(flags.fast),
            i64::from(flags.us),
            i64::from(flags.long_context),
        ];
        for d in [
            self.slots.entry(slot_key).or_default(),
            self.sessions
                .entry([session, machine, project, model])
                .or_default(),
        ] {
            d.sums.add(&sums);
            if sign > 0 {
                d.added.push(at);
            } else {
                d.removed.push(at);
            }
        }
    }

    /// Writes the changes.
    pub fn write(self, tx: &mut Transaction) -> Result<(), postgres::Error> {
        write_table(tx, &ROLLUP, self.slots)?;
        write_table(tx, &SESSION_ROLLUP, self.sessions)
    }
}

/// What a response's price depends on besides its model, instant and counts: the
/// rollup's key keeps them apart, so `--reprice` can price a row as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceFlags {
    /// `speed == "fast"`.
    pub fast: bool,
    /// `inference_geo == "us"`.
    pub us: bool,
    /// The pushing machine priced it at a band's rates.
    pub long_context: bool,
}

impl PriceFlags {
    fn of(m: &Merged) -> PriceFlags {
        let r = &m.response;
        PriceFlags {
            fast: r.speed.as_deref() == Some("fast"),
            us: r.inference_geo.as_deref() == Some("us"),
            long_context: m.price.long_context,
        }
    }
}

/// One rollup table: its name, its key columns with their types, how the responses of
/// one group are found (for its edges), and whether it keeps prompt extremes.
struct Table {
    name: &'static str,
    key: &'static [(&'static str, &'static str)],
    responses_of_group: &'static str,
    prompts: bool,
}

const ROLLUP: Table = Table {
    name: "ctm.rollup",
    key: &[
        ("slot", "bigint"),
        ("machine_id", "integer"),
        ("session_ref", "integer"),
        ("project_id", "integer"),
        ("model_id", "integer"),
        ("fast", "boolean"),
        ("us", "boolean"),
        ("long_context", "boolean"),
    ],
    responses_of_group: "r.session_ref = k.session_ref AND r.ts >= $LO AND r.ts < $HI \
         AND r.machine_id = k.machine_id AND r.project_id = k.project_id AND r.model_id = k.model_id \
         AND coalesce(r.speed = 'fast', false) = k.fast AND coalesce(r.inference_geo = 'us', false) = k.us \
         AND r.long_context = k.long_context AND r.billed",
    prompts: true,
};

const SESSION_ROLLUP: Table = Table {
    name: "ctm.session_rollup",
    key: &[
        ("session_ref", "integer"),
        ("machine_id", "integer"),
        ("project_id", "integer"),
        ("model_id", "integer"),
    ],
    responses_of_group: "r.session_ref = k.session_ref AND r.machine_id = k.machine_id \
         AND r.project_id = k.project_id AND r.model_id = k.model_id AND r.billed",
    prompts: false,
};

/// The rollup's key columns, in order.
pub const ROLLUP_KEY: [&str; 8] = [
    "slot",
    "machine_id",
    "session_ref",
    "project_id",
    "model_id",
    "fast",
    "us",
    "long_context",
];

/// Rollup keys bound as `$1..$8` (bigint arrays, one per [`ROLLUP_KEY`] column), typed,
/// as the relation `k`.
pub fn typed_rollup_keys() -> String {
    typed_keys(&ROLLUP)
}

/// The condition that joins `ctm.responses r` to the rows of [`typed_rollup_keys`].
pub fn responses_of_rollup_row() -> String {
    slot_bounds(ROLLUP.responses_of_group)
}

/// A group condition with its slot's bounds.
fn slot_bounds(sql: &str) -> String {
    sql.replace("$LO", &SLOT_START.replace("{s}", "k.slot"))
        .replace("$HI", &SLOT_END.replace("{s}", "k.slot"))
}

/// bigint to a key column's type (booleans as 0 and 1).
fn cast(alias: &str, c: &str, t: &str) -> String {
    if t == "boolean" {
        format!("({alias}.{c} <> 0)")
    } else {
        format!("{alias}.{c}::{t}")
    }
}

/// A table's keys bound as `$1..$N` bigint arrays, typed, as the relation `k`.
fn typed_keys(table: &Table) -> String {
    let names: Vec<&str> = table.key.iter().map(|(c, _)| *c).collect();
    format!(
        "(SELECT {} FROM unnest({}) AS u({})) k",
        table
            .key
            .iter()
            .map(|(c, t)| format!("{} AS {c}", cast("u", c, t)))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=names.len())
            .map(|i| format!("${i}::bigint[]"))
            .collect::<Vec<_>>()
            .join(", "),
        names.join(", ")
    )
}

/// A response's prompt in SQL, over `ctm.responses r`.
const PROMPT: &str =
    "(r.input_tokens + r.cache_write_5m_tokens + r.cache_write_1h_tokens + r.cache_read_tokens)";

fn write_table<const N: usize>(
    tx: &mut Transaction,
    table: &Table,
    deltas: HashMap<[i64; N], Delta>,
) -> Result<(), postgres::Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    debug_assert_eq!(table.key.len(), N);
    let edge_names: &[&str] = if table.prompts {
        &["first_ts", "last_ts", "min_prompt", "max_prompt"]
    } else {
        &["first_ts", "last_ts"]
    };
    // One array per column, keys as bigint (cast back to their types): one statement
    // per table whatever the number of groups.
    let n_values = SUM_COLUMNS.len() + edge_names.len();
    let mut keys: Vec<Vec<i64>> = (0..N).map(|_| Vec::with_capacity(deltas.len())).collect();
    let mut values: Vec<Vec<i64>> = (0..n_values)
        .map(|_| Vec::with_capacity(deltas.len()))
        .collect();
    let mut edges: Vec<Vec<i64>> = vec![Vec::new(); N];
    for (key, d) in &deltas {
        for (col, v) in keys.iter_mut().zip(key) {
            col.push(*v);
        }
        let figures = d.sums.fields();
        for (col, v) in values
            .iter_mut()
            .zip(figures.into_iter().chain(d.added_edges()))
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
        .chain(edge_names.iter().copied())
        .collect();
    let arrays = |n: usize| -> String {
        (1..=n)
            .map(|i| format!("${i}::bigint[]"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let key_casts: Vec<String> = table.key.iter().map(|(c, t)| cast("u", c, t)).collect();
    let mut sets: Vec<String> = SUM_COLUMNS
        .iter()
        .map(|c| format!("{c} = t.{c} + excluded.{c}"))
        .collect();
    sets.push("first_ts = least(t.first_ts, excluded.first_ts)".into());
    sets.push("last_ts = greatest(t.last_ts, excluded.last_ts)".into());
    if table.prompts {
        sets.push("min_prompt = least(t.min_prompt, excluded.min_prompt)".into());
        sets.push("max_prompt = greatest(t.max_prompt, excluded.max_prompt)".into());
    }
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
             ON CONFLICT ({keys}) DO UPDATE SET {sets}",
            name = table.name,
            keys = key_names.join(", "),
            values = value_names.join(", "),
            key_casts = key_casts.join(", "),
            u_values = value_names
                .iter()
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            arrays = arrays(N + n_values),
            sets = sets.join(", "),
        ),
        &params,
    )?;
    let typed_keys = typed_keys(table);
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
            "DELETE FROM {name} t USING {typed_keys} WHERE {on} AND t.responses = 0",
            name = table.name,
            on = match_on("k"),
        ),
        &params[..N],
    )?;
    if !edges[0].is_empty() {
        let edge_params: Vec<&(dyn postgres::types::ToSql + Sync)> = edges
            .iter()
            .map(|k| k as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let (prompt_set, prompt_agg) = if table.prompts {
            (
                ", min_prompt = b.min_prompt, max_prompt = b.max_prompt".to_owned(),
                format!(", min({PROMPT}) AS min_prompt, max({PROMPT}) AS max_prompt"),
            )
        } else {
            (String::new(), String::new())
        };
        tx.execute(
            &format!(
                "UPDATE {name} t SET first_ts = b.lo, last_ts = b.hi{prompt_set} FROM ( \
                 SELECT {k_names}, min(r.ts) AS lo, max(r.ts) AS hi{prompt_agg} \
                 FROM {typed_keys} JOIN ctm.responses r ON {group} \
                 GROUP BY {k_names}) b WHERE {on}",
                name = table.name,
                k_names = key_names
                    .iter()
                    .map(|c| format!("k.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                group = slot_bounds(table.responses_of_group),
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

/// Differences between the rollups and a recompute from the responses (empty: equal).
pub fn check(client: &mut impl GenericClient) -> Result<Vec<String>, postgres::Error> {
    let sums = "count(*), sum(input_tokens)::bigint, sum(output_tokens)::bigint, \
        sum(cache_write_5m_tokens)::bigint, sum(cache_write_1h_tokens)::bigint, sum(cache_read_tokens)::bigint, \
        sum(web_search_requests)::bigint, sum(cost_nanos)::bigint, sum(cache_savings_nanos)::bigint, \
        count(*) FILTER (WHERE NOT priced), min(ts), max(ts)";
    let prompt = PROMPT.replace("r.", "");
    let slot = SLOT_OF.replace("{t}", "ts");
    let columns = [&SUM_COLUMNS[..], &["first_ts", "last_ts"]]
        .concat()
        .join(", ");
    let mut problems = Vec::new();
    let tables = [
        (
            "the rollup",
            "ctm.rollup",
            format!(
                "{slot}, machine_id, session_ref, project_id, model_id, \
                 coalesce(speed = 'fast', false), coalesce(inference_geo = 'us', false), long_context"
            ),
            "slot, machine_id, session_ref, project_id, model_id, fast, us, long_context",
            format!(", min({prompt}), max({prompt})"),
            ", min_prompt, max_prompt",
        ),
        (
            "the session rollup",
            "ctm.session_rollup",
            "session_ref, machine_id, project_id, model_id".to_owned(),
            "session_ref, machine_id, project_id, model_id",
            String::new(),
            "",
        ),
    ];
    for (what, table, want_key, have_key, want_extra, have_extra) in tables {
        let groups = (1..=have_key.split(", ").count())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let want = format!(
            "SELECT {want_key}, {sums}{want_extra} FROM ctm.responses WHERE billed GROUP BY {groups}"
        );
        let have = format!("SELECT {have_key}, {columns}{have_extra} FROM {table}");
        let rows = client.query(
            &format!(
                "SELECT 'missing or different in {what}', w.machine_id, w.session_ref FROM ({want} EXCEPT {have}) w \
                 UNION ALL SELECT '{what} has it, the responses do not', h.machine_id, h.session_ref \
                 FROM ({have} EXCEPT {want}) h LIMIT 20"
            ),
            &[],
        )?;
        problems.extend(rows.into_iter().map(|r| {
            let what: String = r.get(0);
            let machine: i32 = r.get(1);
            let session: i32 = r.get(2);
            format!("{what}: machine {machine}, session {session}")
        }));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollup_key_named_for_readers_is_the_written_one() {
        let written: Vec<&str> = ROLLUP.key.iter().map(|(c, _)| *c).collect();
        assert_eq!(written, ROLLUP_KEY);
    }

    #[test]
    fn a_change_in_place_keeps_the_edges_and_a_moved_prompt_does_not() {
        let same = Delta {
            added: vec![(5, 100)],
            removed: vec![(5, 100)],
            ..Delta::default()
        };
        assert!(!same.edges_may_move());
        let grown = Delta {
            added: vec![(5, 180)],
            removed: vec![(5, 100)],
            ..Delta::default()
        };
        assert!(grown.edges_may_move());
        assert_eq!(grown.added_edges(), [5, 5, 180, 180]);
    }
}
