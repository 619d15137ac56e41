//! Team reports: the local reports' values (`ctm_analytics`), and a users report, made
//! from the team database's rollup.
//!
//! A report reads the rollup grouped as it needs (by local day and model, by project,
//! session and model, by session, by machine), in one read-only snapshot, never every
//! response. Local days come from the report's zone here, with jiff: PostgreSQL is given
//! the slots where the days start and groups by them (`width_bucket`), so the days are
//! the very days a local report has, in any zone whose offsets are whole quarter-hours
//! (every real zone today). Filters are resolved to ids with the local reports' own rule
//! ([`Filter`], case-insensitive substrings), so they select what they select locally.
//! Sums are integers (money in nano-dollars) and the day-based reports are built by the
//! local reports' own functions, so a team report over one machine's responses is the
//! local report, to the last digit.
//!
//! A report of every session (no `--since` or `--until`) reads the session rollup, one
//! row per session, machine, project and model, instead of grouping the slots.
//!
//! `--reprice` prices the rollup's rows with the reading machine's table: a row's key
//! holds what a price depends on besides its counts (model, slot, fast, US, band side)
//! and its smallest and largest prompt, so `ctm_pricing`'s [`PriceTable::price_group`]
//! prices it from its sums exactly as pricing its responses one by one would; the
//! responses of the few rows it cannot (a price change within the slot, prompts on both
//! sides of a band, rates that are not whole nano-dollars per token) are read and
//! priced one by one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;

use ctm_analytics::{ReportQuery, SessionRow, Totals, Zone};
use ctm_pricing::{GroupPrice, PriceTable, RequestGroup};
use jiff::civil::Date;
use postgres::{Client, Transaction};
use serde::Serialize;

use crate::connection::TeamUrl;
use crate::copies::{Dims, Price};
use crate::error::{describe, TeamError};
use crate::responses::{self, slot_span};
use crate::rollups::ROLLUP_KEY;
use crate::rollups::{Sums, SUM_COLUMNS};
use crate::schema;
use ctm_aggregate::{slot_of, QUARTER_MS};

/// What a team report is asked: a local report's options, and whose usage.
#[derive(Debug, Clone)]
pub struct TeamQuery {
    pub report: ReportQuery,
    /// Only this person's usage.
    pub user: Option<String>,
}

/// The reading machine's price table (`--reprice`).
pub type Reprice<'a> = &'a PriceTable;

/// One person's row of `ctm team users`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    pub user: String,
    /// Every machine they have pushed from.
    pub machines: Vec<String>,
    pub responses: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
    /// Their last response, RFC 3339 in the report's zone.
    pub last_activity: String,
    /// Of their responses, those whose model had no price (their cost is unknown).
    #[serde(skip)]
    pub unpriced_responses: u64,
}

/// `ctm team users`: one row per person, costliest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersReport {
    pub users: Vec<UserRow>,
    pub totals: Totals,
}

/// A session of `ctm team sessions`: the local session row, and whose it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamSessionRow {
    #[serde(flatten)]
    pub session: SessionRow,
    /// The person whose machine sent its first response.
    pub user: String,
}

/// `ctm team sessions`: the local session report, each row with its person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamSessionReport {
    pub sessions: Vec<TeamSessionRow>,
    pub totals: Totals,
    pub timezone: String,
    pub unpriced_models: Vec<String>,
}

/// A connection that reads the team database (a read-only role is enough).
pub struct Reader {
    client: Client,
    url: TeamUrl,
}

impl Reader {
    /// Connects and checks the schema's version (never creating or migrating it).
    pub fn open(url: &TeamUrl) -> Result<Reader, TeamError> {
        let mut client = url.connect()?;
        schema::check_readable(&mut client, url)?;
        Ok(Reader {
            client,
            url: url.clone(),
        })
    }

    /// Per local day, per model (the daily, weekly, monthly and models reports).
    pub fn model_days(
        &mut self,
        q: &TeamQuery,
        reprice: Option<Reprice>,
    ) -> Result<Vec<ctm_analytics::ModelDay>, TeamError> {
        self.read(|tx| {
            let names = Names::load(tx)?;
            let Some(sel) = Selection::of(tx, q, &names)? else {
                return Ok(Vec::new());
            };
            let Some(days) = Days::of(tx, &sel, &q.report)? else {
                return Ok(Vec::new());
            };
            let groups = groups(tx, &sel, &names, Grouping::DayModel, Some(&days), reprice)?;
            let mut out: BTreeMap<Date, BTreeMap<String, ctm_analytics_sums::Sums>> =
                BTreeMap::new();
            for (k, g) in groups {
                let date = days.dates[k.day as usize];
                let label = names.model_label(k.model).to_owned();
                out.entry(date)
                    .or_default()
                    .entry(label)
                    .or_default()
                    .add(&ctm_analytics_sums::of(&g.sums));
            }
            Ok(out.into_iter().collect())
        })
    }

    /// The last response (UTC epoch ms) and the billed responses, of everyone or of
    /// one person.
    pub fn overview(&mut self, user: Option<&str>) -> Result<(Option<i64>, u64), TeamError> {
        let user = user.map(str::to_owned);
        self.read(move |tx| {
            let r = tx.query_one(
                "SELECT max(r.last_ts), coalesce(sum(r.responses), 0)::bigint FROM ctm.rollup r \
                 JOIN ctm.machines m ON m.id = r.machine_id JOIN ctm.people p ON p.id = m.person_id \
                 WHERE $1::text IS NULL OR p.name = $1",
                &[&user],
            )?;
            Ok((r.get(0), r.get::<_, i64>(1) as u64))
        })
    }

    /// `ctm team users`.
    pub fn users(
        &mut self,
        q: &TeamQuery,
        reprice: Option<Reprice>,
    ) -> Result<UsersReport, TeamError> {
        self.read(|tx| {
            let names = Names::load(tx)?;
            let Some(sel) = Selection::of(tx, q, &names)? else {
                return Ok(UsersReport {
                    users: Vec::new(),
                    totals: Totals::default(),
                });
            };
            let groups = groups(tx, &sel, &names, Grouping::Machine, None, reprice)?;
            struct Person {
                sums: Sums,
                last_ts: i64,
            }
            let mut people: BTreeMap<&str, Person> = BTreeMap::new();
            let mut all = Sums::default();
            for (k, g) in &groups {
                let person = names.machine(k.machine).0;
                let p = people.entry(person).or_insert_with(|| Person {
                    sums: Sums::default(),
                    last_ts: i64::MIN,
                });
                p.sums.add(&g.sums);
                p.last_ts = p.last_ts.max(g.last_ts);
                all.add(&g.sums);
            }
            let mut users: Vec<UserRow> = people
                .into_iter()
                .map(|(name, p)| {
                    let s = ctm_analytics_sums::of(&p.sums);
                    UserRow {
                        user: name.to_owned(),
                        machines: names.machines_of(name),
                        responses: s.responses,
                        input_tokens: s.input_tokens,
                        output_tokens: s.output_tokens,
                        cache_creation_tokens: s.cache_creation_tokens(),
                        cache_read_tokens: s.cache_read_tokens,
                        total_tokens: s.total_tokens(),
                        total_cost: s.cost_usd(),
                        last_activity: q.report.zone.rfc3339(p.last_ts),
                        unpriced_responses: s.unpriced_responses,
                    }
                })
                .collect();
            users.sort_by(|a, b| {
                b.total_cost
                    .total_cmp(&a.total_cost)
                    .then_with(|| a.user.cmp(&b.user))
            });
            Ok(UsersReport {
                users,
                totals: Totals::from(&ctm_analytics_sums::of(&all)),
            })
        })
    }

    /// `ctm team projects`: the local project report's rows.
    pub fn projects(
        &mut self,
        q: &TeamQuery,
        reprice: Option<Reprice>,
    ) -> Result<ctm_analytics::ProjectReport, TeamError> {
        self.read(|tx| {
            let names = Names::load(tx)?;
            let (groups, sessions) = match Selection::of(tx, q, &names)? {
                Some(sel) => (
                    groups(tx, &sel, &names, Grouping::ProjectModel, None, reprice)?,
                    sessions_per_project(tx, &sel)?,
                ),
                None => (BTreeMap::new(), HashMap::new()),
            };
            Ok(assemble::projects(&groups, &names, &sessions, &q.report))
        })
    }

    /// `ctm team sessions`: the local session report's rows, each with its person.
    pub fn sessions(
        &mut self,
        q: &TeamQuery,
        reprice: Option<Reprice>,
    ) -> Result<TeamSessionReport, TeamError> {
        self.read(|tx| {
            let names = Names::load(tx)?;
            let mut building = assemble::SessionsBuilder::default();
            match Selection::of(tx, q, &names)? {
                // Every session: the session rollup's rows, as they come.
                Some(sel) if reprice.is_none() && sel.is_all_time() => {
                    stream_session_rollup(tx, &sel, &names, &mut building)?;
                }
                Some(sel) => {
                    let groups = groups(
                        tx,
                        &sel,
                        &names,
                        Grouping::SessionProjectModelMachine,
                        None,
                        reprice,
                    )?;
                    let ids = Names::sessions(tx, groups.keys().map(|k| k.session))?;
                    for (k, g) in &groups {
                        building.add(k, g, &names);
                    }
                    for (session_ref, id) in ids {
                        if let Some(id) = id {
                            building.name(session_ref, || id);
                        }
                    }
                }
                None => {}
            }
            let r = building.finish(&names, &q.report.zone);
            let mut rows = r.rows;
            q.report.arrange(&mut rows);
            Ok(TeamSessionReport {
                sessions: rows,
                totals: r.totals,
                timezone: q.report.zone.label(),
                unpriced_models: r.unpriced_models,
            })
        })
    }

    /// Runs `f` in one read-only snapshot.
    fn read<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction) -> Result<T, ReadError>,
    ) -> Result<T, TeamError> {
        let shown = self.url.shown().to_owned();
        let db_err = |e: postgres::Error| TeamError::Database {
            shown: shown.clone(),
            reason: describe(&e),
        };
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(db_err)?;
        // Groups are hashed in memory rather than sorted on disk: a report's groups are
        // few (days x models, projects x models...), but the planner cannot know it, and
        // the default 4 MB made it sort the whole rollup.
        tx.batch_execute("SET LOCAL work_mem = '64MB'")
            .map_err(db_err)?;
        let out = f(&mut tx).map_err(|e| match e {
            ReadError::Db(e) => db_err(e),
            ReadError::Invalid(m) => TeamError::Invalid(m),
        })?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }
}

/// What a read can fail with: the database, or the question.
enum ReadError {
    Db(postgres::Error),
    Invalid(String),
}

impl From<postgres::Error> for ReadError {
    fn from(e: postgres::Error) -> Self {
        ReadError::Db(e)
    }
}

/// The sums the local reports add, from the rollup's (signed, as changes to it are).
mod ctm_analytics_sums {
    pub use ctm_aggregate::Sums;

    pub fn of(s: &crate::rollups::Sums) -> Sums {
        Sums {
            responses: s.responses as u64,
            input_tokens: s.input_tokens as u64,
            output_tokens: s.output_tokens as u64,
            cache_write_5m_tokens: s.cache_write_5m_tokens as u64,
            cache_write_1h_tokens: s.cache_write_1h_tokens as u64,
            cache_read_tokens: s.cache_read_tokens as u64,
            web_search_requests: s.web_search_requests as u64,
            cost_nanos: s.cost_nanos,
            savings_nanos: s.cache_savings_nanos,
            unpriced_responses: s.unpriced_responses as u64,
        }
    }
}

/// What is found by a rollup id: looked up once or more per rollup row, so hashed fast
/// (the ids are the database's own, not an input that could be chosen to collide).
type ById<V> = HashMap<i32, V, foldhash::fast::RandomState>;

/// The texts and owners behind the rollup's ids.
struct Names {
    machines: ById<(String, String)>,
    projects: ById<Option<String>>,
    models: ById<Option<String>>,
}

impl Names {
    fn load(tx: &mut Transaction) -> Result<Names, postgres::Error> {
        let machines = tx
            .query(
                "SELECT m.id, p.name, m.name FROM ctm.machines m JOIN ctm.people p ON p.id = m.person_id",
                &[],
            )?
            .into_iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        let projects = tx
            .query("SELECT id, path FROM ctm.projects", &[])?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let models = tx
            .query("SELECT id, name FROM ctm.models", &[])?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(Names {
            machines,
            projects,
            models,
        })
    }

    /// The session ids behind these refs (`None`: responses without a session).
    fn sessions(
        tx: &mut Transaction,
        refs: impl Iterator<Item = i32>,
    ) -> Result<HashMap<i32, Option<String>>, postgres::Error> {
        let mut ids: Vec<i32> = refs.collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(tx
            .query(
                "SELECT id, session_id FROM ctm.sessions WHERE id = ANY($1)",
                &[&ids],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn machine(&self, id: i32) -> (&str, &str) {
        self.machines
            .get(&id)
            .map_or(("?", "?"), |(p, m)| (p.as_str(), m.as_str()))
    }

    /// Every machine a person has pushed from, by name (a machine whose responses all
    /// another one of theirs sent too counts none of them, but is theirs).
    fn machines_of(&self, person: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .machines
            .values()
            .filter(|(p, _)| p == person)
            .map(|(_, m)| m.clone())
            .collect();
        out.sort();
        out
    }

    /// The model's name as a price table matches it (`""` when there is none).
    fn model_text(&self, id: i32) -> &str {
        self.models
            .get(&id)
            .and_then(|m| m.as_deref())
            .unwrap_or("")
    }

    fn model_label(&self, id: i32) -> &str {
        self.models
            .get(&id)
            .and_then(|m| m.as_deref())
            .unwrap_or("unknown")
    }

    fn project(&self, id: i32) -> Option<&str> {
        self.projects.get(&id).and_then(|p| p.as_deref())
    }
}

/// A report's filters as ids, and its range as slots.
struct Selection {
    machines: Option<Vec<i32>>,
    projects: Option<Vec<i32>>,
    models: Option<Vec<i32>>,
    slots: (i64, i64),
}

impl Selection {
    /// `None` when a filter leaves nothing to read.
    fn of(
        tx: &mut Transaction,
        q: &TeamQuery,
        names: &Names,
    ) -> Result<Option<Selection>, ReadError> {
        let machines = match &q.user {
            None => None,
            Some(user) => {
                let ids: Vec<i32> = names
                    .machines
                    .iter()
                    .filter(|(_, (p, _))| p == user)
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    let known = tx
                        .query_opt("SELECT 1 FROM ctm.people WHERE name = $1", &[user])?
                        .is_some();
                    if !known {
                        return Err(ReadError::Invalid(format!(
                            "the team database has no user {user:?}; `ctm team users` lists them"
                        )));
                    }
                }
                Some(ids)
            }
        };
        let filter = &q.report.filter;
        let matching =
            |texts: &ById<Option<String>>, matches: &dyn Fn(Option<&str>) -> bool| -> Vec<i32> {
                let mut ids: Vec<i32> = texts
                    .iter()
                    .filter(|(_, t)| matches(t.as_deref()))
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                ids
            };
        let projects = filter
            .filters_projects()
            .then(|| matching(&names.projects, &|t| filter.matches_project(t)));
        let models = filter
            .filters_models()
            .then(|| matching(&names.models, &|t| filter.matches_model(t)));
        let (lo, hi) = q
            .report
            .bounds()
            .map_err(|e| ReadError::Invalid(e.to_string()))?;
        for edge in [lo, hi] {
            if edge != i64::MIN && edge != i64::MAX && edge.rem_euclid(QUARTER_MS) != 0 {
                return Err(ReadError::Invalid(format!(
                    "a day in {} does not start on a quarter-hour, so the team database cannot answer \
                     for it; use another --timezone",
                    q.report.zone.label()
                )));
            }
        }
        let slot = |ts: i64| match ts {
            i64::MIN | i64::MAX => ts,
            ts => slot_of(ts),
        };
        let sel = Selection {
            machines,
            projects,
            models,
            slots: (slot(lo), slot(hi)),
        };
        let empty = |v: &Option<Vec<i32>>| v.as_ref().is_some_and(Vec::is_empty);
        if empty(&sel.machines) || empty(&sel.projects) || empty(&sel.models) {
            return Ok(None);
        }
        Ok(Some(sel))
    }

    /// The WHERE clause over the rollup (`column` the slot), with `$1`, `$2` the range
    /// and `$3`..`$5` the filters.
    fn clause(&self, column: &str) -> String {
        format!(
            "{column} >= $1 AND {column} < $2 AND {}",
            self.filters(3, "")
        )
    }

    /// The filters' clause, with `$first`.. the machines, projects and models, and the
    /// columns' table `alias` (`"r."`, or `""`).
    fn filters(&self, first: usize, alias: &str) -> String {
        let (m, p, d) = (first, first + 1, first + 2);
        format!(
            "(${m}::integer[] IS NULL OR {alias}machine_id = ANY(${m})) \
             AND (${p}::integer[] IS NULL OR {alias}project_id = ANY(${p})) \
             AND (${d}::integer[] IS NULL OR {alias}model_id = ANY(${d}))"
        )
    }

    /// No `--since` or `--until`: every slot.
    fn is_all_time(&self) -> bool {
        self.slots == (i64::MIN, i64::MAX)
    }
}

/// The local days a report covers, and the slots where they start.
struct Days {
    dates: Vec<Date>,
    /// Each day's first slot, then the first slot after the last day.
    starts: Vec<i64>,
}

impl Days {
    /// From `--since` (else the first day with usage) to `--until` (else the last).
    fn of(
        tx: &mut Transaction,
        sel: &Selection,
        q: &ReportQuery,
    ) -> Result<Option<Days>, ReadError> {
        let zone = &q.zone;
        let (first, last) = match (q.since, q.until) {
            (Some(s), Some(u)) => (s, u),
            _ => {
                let r = tx.query_one(
                    &format!(
                        "SELECT min(slot), max(slot) FROM ctm.rollup WHERE {}",
                        sel.clause("slot")
                    ),
                    &[
                        &sel.slots.0,
                        &sel.slots.1,
                        &sel.machines,
                        &sel.projects,
                        &sel.models,
                    ],
                )?;
                let (Some(lo), Some(hi)) = (r.get::<_, Option<i64>>(0), r.get::<_, Option<i64>>(1))
                else {
                    return Ok(None);
                };
                let date = |slot: i64| zone.zoned(slot_span(slot).0).date();
                (q.since.unwrap_or(date(lo)), q.until.unwrap_or(date(hi)))
            }
        };
        if first > last {
            return Ok(None);
        }
        let mut dates = Vec::new();
        let mut starts = Vec::new();
        let mut d = first;
        loop {
            let start = day_start(d, zone)?;
            dates.push(d);
            starts.push(slot_of(start));
            if d >= last {
                break;
            }
            d = d
                .tomorrow()
                .map_err(|e| ReadError::Invalid(e.to_string()))?;
        }
        let after = d
            .tomorrow()
            .map_err(|e| ReadError::Invalid(e.to_string()))?;
        starts.push(slot_of(day_start(after, zone)?));
        Ok(Some(Days { dates, starts }))
    }

    /// The index of the day holding a slot (binary search, as `width_bucket` does).
    fn index_of(&self, slot: i64) -> Option<usize> {
        match self.starts.partition_point(|s| *s <= slot) {
            0 => None,
            i if i >= self.starts.len() => None,
            i => Some(i - 1),
        }
    }
}

fn day_start(d: Date, zone: &Zone) -> Result<i64, ReadError> {
    let ms = d
        .to_zoned(zone.tz.clone())
        .map_err(|e| ReadError::Invalid(e.to_string()))?
        .timestamp()
        .as_millisecond();
    if ms.rem_euclid(QUARTER_MS) != 0 {
        return Err(ReadError::Invalid(format!(
            "{d} in {} does not start on a quarter-hour, so the team database cannot answer for it",
            zone.label()
        )));
    }
    Ok(ms)
}

/// How a report groups the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    DayModel,
    Machine,
    ProjectModel,
    SessionProjectModelMachine,
}

impl Grouping {
    /// The key's columns, in [`Key`] field order where used.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Grouping::DayModel => &["day", "model_id"],
            Grouping::Machine => &["machine_id"],
            Grouping::ProjectModel => &["project_id", "model_id"],
            Grouping::SessionProjectModelMachine => {
                &["session_ref", "project_id", "model_id", "machine_id"]
            }
        }
    }

    fn key(self, day: i64, machine: i32, session: i32, project: i32, model: i32) -> Key {
        let mut k = Key::default();
        for c in self.columns() {
            match *c {
                "day" => k.day = day,
                "machine_id" => k.machine = machine,
                "session_ref" => k.session = session,
                "project_id" => k.project = project,
                _ => k.model = model,
            }
        }
        k
    }
}

/// A group's key (fields a grouping does not use stay 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    day: i64,
    machine: i32,
    session: i32,
    project: i32,
    model: i32,
}

/// A group's figures.
#[derive(Debug, Clone, Copy)]
struct Group {
    sums: Sums,
    first_ts: i64,
    last_ts: i64,
}

impl Group {
    fn add(&mut self, o: &Group) {
        self.sums.add(&o.sums);
        self.first_ts = self.first_ts.min(o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
    }
}

/// Each project's sessions (with a session id), counted once however many rows they
/// have: the same selection as the report's groups.
fn sessions_per_project(
    tx: &mut Transaction,
    sel: &Selection,
) -> Result<HashMap<i32, u64>, ReadError> {
    // Distinct pairs first: hashing them is cheaper than count(DISTINCT), which sorts.
    let rows = tx.query(
        &format!(
            "SELECT project_id, count(*) FROM (SELECT DISTINCT project_id, session_ref \
             FROM ctm.rollup WHERE {} AND session_ref <> coalesce(\
             (SELECT id FROM ctm.sessions WHERE session_id IS NULL), 0)) pairs GROUP BY project_id",
            sel.clause("slot")
        ),
        &[
            &sel.slots.0,
            &sel.slots.1,
            &sel.machines,
            &sel.projects,
            &sel.models,
        ],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// The rollup grouped, or with `reprice` its rows repriced and grouped alike.
fn groups(
    tx: &mut Transaction,
    sel: &Selection,
    names: &Names,
    grouping: Grouping,
    days: Option<&Days>,
    reprice: Option<Reprice>,
) -> Result<BTreeMap<Key, Group>, ReadError> {
    if let Some(table) = reprice {
        return repriced_groups(tx, sel, names, grouping, days, table);
    }
    let columns: Vec<String> = grouping
        .columns()
        .iter()
        .map(|c| match *c {
            // Day n (from 1) of the report's days.
            "day" => "width_bucket(slot, $6::bigint[])".to_owned(),
            c => c.to_owned(),
        })
        .collect();
    let n = columns.len();
    let sums: Vec<String> = SUM_COLUMNS
        .iter()
        .map(|c| format!("sum({c})::bigint"))
        .collect();
    let sql = format!(
        "SELECT {cols}, {sums}, min(first_ts), max(last_ts) FROM ctm.rollup WHERE {clause} GROUP BY {groups}",
        cols = columns.join(", "),
        sums = sums.join(", "),
        clause = sel.clause("slot"),
        groups = (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
    );
    let starts: Vec<i64> = days.map(|d| d.starts.clone()).unwrap_or_default();
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
        &sel.slots.0,
        &sel.slots.1,
        &sel.machines,
        &sel.projects,
        &sel.models,
    ];
    if days.is_some() {
        params.push(&starts);
    }
    let mut out = BTreeMap::new();
    for r in tx.query(&sql, &params)? {
        let mut k = Key::default();
        for (i, c) in grouping.columns().iter().enumerate() {
            match *c {
                "day" => {
                    let bucket: i32 = r.get(i);
                    // Outside the days (cannot happen: the range is the days').
                    if bucket < 1 || bucket as usize > days.map_or(0, |d| d.dates.len()) {
                        continue;
                    }
                    k.day = i64::from(bucket - 1);
                }
                "machine_id" => k.machine = r.get(i),
                "session_ref" => k.session = r.get(i),
                "project_id" => k.project = r.get(i),
                _ => k.model = r.get(i),
            }
        }
        let g = Group {
            sums: Sums::from_row(&r, n),
            first_ts: r.get(n + 10),
            last_ts: r.get(n + 11),
        };
        out.entry(k)
            .and_modify(|e: &mut Group| e.add(&g))
            .or_insert(g);
    }
    Ok(out)
}

/// The selection's session rollup rows as they come, then their sessions' ids. Two reads
/// joined here, by the builder's index of sessions: joined in the database, every session
/// was hashed there before the first row came, which took longer than both scans.
fn stream_session_rollup(
    tx: &mut Transaction,
    sel: &Selection,
    names: &Names,
    building: &mut assemble::SessionsBuilder,
) -> Result<(), ReadError> {
    let sql = format!(
        "SELECT session_ref, project_id, model_id, machine_id, {sums}, first_ts, last_ts \
         FROM ctm.session_rollup r WHERE {filters}",
        sums = SUM_COLUMNS.join(", "),
        filters = sel.filters(1, "r."),
    );
    let params: [&(dyn postgres::types::ToSql + Sync); 3] =
        [&sel.machines, &sel.projects, &sel.models];
    each_row(tx, &sql, &params, |r| {
        let k = Key {
            day: 0,
            session: r.get(0),
            project: r.get(1),
            model: r.get(2),
            machine: r.get(3),
        };
        let g = Group {
            sums: Sums::from_row(r, 4),
            first_ts: r.get(14),
            last_ts: r.get(15),
        };
        building.add(&k, &g, names);
    })?;
    // A person's, a project's or a model's sessions: only theirs, by key.
    let filtered = sel.machines.is_some() || sel.projects.is_some() || sel.models.is_some();
    let refs = filtered.then(|| building.refs());
    let sql = "SELECT id, session_id FROM ctm.sessions WHERE session_id IS NOT NULL";
    let named = |r: &postgres::Row| building.name(r.get(0), || r.get(1));
    match &refs {
        None => each_row(tx, sql, &[], named)?,
        Some(refs) => each_row(tx, &format!("{sql} AND id = ANY($1)"), &[refs], named)?,
    }
    Ok(())
}

/// Hands `f` each row of `sql`, fetched some thousands at a time through a portal: the
/// rows of a whole table neither wait in memory all at once nor cost a turn of the
/// client's runtime each (as a row-by-row iterator does).
fn each_row(
    tx: &mut Transaction,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    mut f: impl FnMut(&postgres::Row),
) -> Result<(), postgres::Error> {
    const BATCH: i32 = 4_096;
    let portal = tx.bind(sql, params)?;
    loop {
        let rows = tx.query_portal(&portal, BATCH)?;
        rows.iter().for_each(&mut f);
        if rows.len() < BATCH as usize {
            return Ok(());
        }
    }
}

/// `--reprice`: the rollup's rows of the selection priced with `table` from their sums,
/// or where that would not be exact their responses one by one, grouped.
fn repriced_groups(
    tx: &mut Transaction,
    sel: &Selection,
    names: &Names,
    grouping: Grouping,
    days: Option<&Days>,
    table: Reprice,
) -> Result<BTreeMap<Key, Group>, ReadError> {
    let sql = format!(
        "SELECT {key}, {sums}, first_ts, last_ts, min_prompt, max_prompt FROM ctm.rollup WHERE {clause}",
        key = ROLLUP_KEY.join(", "),
        sums = SUM_COLUMNS.join(", "),
        clause = sel.clause("slot"),
    );
    let rows = tx.query(
        &sql,
        &[
            &sel.slots.0,
            &sel.slots.1,
            &sel.machines,
            &sel.projects,
            &sel.models,
        ],
    )?;
    let mut out: BTreeMap<Key, Group> = BTreeMap::new();
    let mut add = |slot: i64, k: Key, g: Group| {
        let day = match days {
            Some(d) => match d.index_of(slot) {
                Some(i) => i as i64,
                None => return,
            },
            None => 0,
        };
        let key = grouping.key(day, k.machine, k.session, k.project, k.model);
        out.entry(key).and_modify(|e| e.add(&g)).or_insert(g);
    };
    // Rows to price response by response, one array per key column.
    let mut one_by_one: [Vec<i64>; 8] = Default::default();
    for r in &rows {
        let slot: i64 = r.get(0);
        let (fast, us, long): (bool, bool, bool) = (r.get(5), r.get(6), r.get(7));
        let k = Key {
            day: 0,
            machine: r.get(1),
            session: r.get(2),
            project: r.get(3),
            model: r.get(4),
        };
        let mut sums = Sums::from_row(r, 8);
        let (min_prompt, max_prompt): (i64, i64) = (r.get(20), r.get(21));
        let (from_ms, until_ms) = slot_span(slot);
        let group = RequestGroup {
            model: names.model_text(k.model),
            from_ms,
            until_ms,
            min_prompt: min_prompt as u64,
            max_prompt: max_prompt as u64,
            output_tokens: sums.output_tokens as u64,
            fast,
            us,
        };
        match table.price_group(&group) {
            Some(GroupPrice::Unpriced) => {
                sums.cost_nanos = 0;
                sums.cache_savings_nanos = 0;
                sums.unpriced_responses = sums.responses;
            }
            Some(GroupPrice::Units(u)) => {
                sums.cost_nanos = sums.input_tokens * u.input
                    + sums.output_tokens * u.output
                    + sums.cache_write_5m_tokens * u.cache_write_5m
                    + sums.cache_write_1h_tokens * u.cache_write_1h
                    + sums.cache_read_tokens * u.cache_read
                    + sums.web_search_requests * u.web_search;
                // Each cached token as plain input, less what it cost.
                sums.cache_savings_nanos = sums.cache_write_5m_tokens
                    * (u.input - u.cache_write_5m)
                    + sums.cache_write_1h_tokens * (u.input - u.cache_write_1h)
                    + sums.cache_read_tokens * (u.input - u.cache_read);
                sums.unpriced_responses = 0;
            }
            None => {
                let key = [
                    slot,
                    i64::from(k.machine),
                    i64::from(k.session),
                    i64::from(k.project),
                    i64::from(k.model),
                    i64::from(fast),
                    i64::from(us),
                    i64::from(long),
                ];
                for (col, v) in one_by_one.iter_mut().zip(key) {
                    col.push(v);
                }
                continue;
            }
        }
        let g = Group {
            sums,
            first_ts: r.get(18),
            last_ts: r.get(19),
        };
        add(slot, k, g);
    }
    if !one_by_one[0].is_empty() {
        let mut dims = Dims::default();
        for c in responses::billed_of_rollup_rows(tx, &one_by_one, &mut dims)? {
            let r = &c.response;
            let p = Price::of(ctm_ingest::price_response(table, r));
            let u = &r.usage;
            let k = Key {
                day: 0,
                machine: c.machine_id,
                session: dims.session(r),
                project: dims.project(r),
                model: dims.model(r),
            };
            let g = Group {
                sums: Sums {
                    responses: 1,
                    input_tokens: u.input_tokens as i64,
                    output_tokens: u.output_tokens as i64,
                    cache_write_5m_tokens: u.cache_write_5m_tokens as i64,
                    cache_write_1h_tokens: u.cache_write_1h_tokens as i64,
                    cache_read_tokens: u.cache_read_tokens as i64,
                    web_search_requests: u.web_search_requests as i64,
                    cost_nanos: p.cost_nanos,
                    cache_savings_nanos: p.cache_savings_nanos,
                    unpriced_responses: i64::from(!p.priced),
                },
                first_ts: r.timestamp_ms,
                last_ts: r.timestamp_ms,
            };
            add(slot_of(r.timestamp_ms), k, g);
        }
    }
    Ok(out)
}

/// The project and session reports from their groups.
mod assemble {
    use super::*;
    use ctm_aggregate::ModelResponses;
    use ctm_analytics::{project_report_of, ProjectFigures, ProjectReport};
    use ctm_store::derive::claude_sessions::SessionFigures;
    use ctm_store::derive::session_models::ModelCounts;

    pub(super) fn projects(
        groups: &BTreeMap<Key, Group>,
        names: &Names,
        sessions: &HashMap<i32, u64>,
        q: &ReportQuery,
    ) -> ProjectReport {
        struct Project {
            sums: Sums,
            /// Its ids' session counts (a project path names one id).
            sessions: u64,
            ids: BTreeSet<i32>,
            models: BTreeSet<String>,
            first_ms: i64,
            last_ms: i64,
        }
        let mut projects: BTreeMap<&str, Project> = BTreeMap::new();
        let mut unpriced_models = BTreeSet::new();
        for (k, g) in groups {
            let label = names.project(k.project).unwrap_or("unknown");
            let p = projects.entry(label).or_insert_with(|| Project {
                sums: Sums::default(),
                sessions: 0,
                ids: BTreeSet::new(),
                models: BTreeSet::new(),
                first_ms: g.first_ts,
                last_ms: g.last_ts,
            });
            p.sums.add(&g.sums);
            if p.ids.insert(k.project) {
                p.sessions += sessions.get(&k.project).copied().unwrap_or(0);
            }
            let model = names.model_label(k.model).to_owned();
            if g.sums.unpriced_responses > 0 {
                unpriced_models.insert(model.clone());
            }
            p.models.insert(model);
            p.first_ms = p.first_ms.min(g.first_ts);
            p.last_ms = p.last_ms.max(g.last_ts);
        }
        let projects = projects.into_iter().map(|(path, p)| {
            let figures = ProjectFigures {
                sums: ctm_analytics_sums::of(&p.sums),
                sessions: p.sessions,
                models: p.models,
                first_ms: p.first_ms,
                last_ms: p.last_ms,
            };
            (path.to_owned(), figures)
        });
        project_report_of(projects, unpriced_models, q)
    }

    pub(super) struct Sessions {
        pub rows: Vec<TeamSessionRow>,
        pub totals: Totals,
        pub unpriced_models: Vec<String>,
    }

    /// A session as its groups come: ids, not texts, which are looked up once per
    /// session at the end.
    struct Building {
        /// Its `session_id`, once [`SessionsBuilder::name`] gave it: a session without
        /// one is in no row, nor in the totals, as locally.
        id: Option<String>,
        sums: Sums,
        first_ts: i64,
        last_ts: i64,
        /// The earliest group's project (ties: the smaller path) and person, as ids.
        project: Option<(i64, i32)>,
        user: Option<(i64, i32)>,
        /// Each model's tokens and responses.
        models: Vec<(i32, i64, ModelResponses)>,
    }

    /// The session report, built group by group. Sessions sit in arrival order, found by
    /// their ref through a small index (a listing of every session of a team is tens of
    /// thousands: rehashing the sessions themselves as the map grows cost more than
    /// adding them up).
    #[derive(Default)]
    pub(super) struct SessionsBuilder {
        index: ById<u32>,
        sessions: Vec<Building>,
    }

    impl SessionsBuilder {
        /// A group of the session `k.session`.
        pub(super) fn add(&mut self, k: &Key, g: &Group, names: &Names) {
            let at = *self.index.entry(k.session).or_insert_with(|| {
                self.sessions.push(Building {
                    id: None,
                    sums: Sums::default(),
                    first_ts: g.first_ts,
                    last_ts: g.last_ts,
                    project: None,
                    user: None,
                    models: Vec::new(),
                });
                (self.sessions.len() - 1) as u32
            });
            let b = &mut self.sessions[at as usize];
            b.sums.add(&g.sums);
            b.first_ts = b.first_ts.min(g.first_ts);
            b.last_ts = b.last_ts.max(g.last_ts);
            if let Some(project) = names.project(k.project) {
                if b.project.map_or(true, |(ts, p)| {
                    g.first_ts < ts || (g.first_ts == ts && Some(project) < names.project(p))
                }) {
                    b.project = Some((g.first_ts, k.project));
                }
            }
            let person = names.machine(k.machine).0;
            if b.user.map_or(true, |(ts, m)| {
                g.first_ts < ts || (g.first_ts == ts && person < names.machine(m).0)
            }) {
                b.user = Some((g.first_ts, k.machine));
            }
            let at = match b.models.iter().position(|(m, _, _)| *m == k.model) {
                Some(at) => at,
                None => {
                    b.models.push((k.model, 0, ModelResponses::default()));
                    b.models.len() - 1
                }
            };
            let (_, tokens, responses) = &mut b.models[at];
            *tokens += total_tokens(&g.sums);
            responses.add(&ctm_analytics_sums::of(&g.sums));
        }

        /// The sessions the groups so far belong to.
        pub(super) fn refs(&self) -> Vec<i32> {
            self.index.keys().copied().collect()
        }

        /// The session `session_ref` is `id` (a ref no group named is passed over).
        pub(super) fn name(&mut self, session_ref: i32, id: impl FnOnce() -> String) {
            if let Some(&at) = self.index.get(&session_ref) {
                self.sessions[at as usize].id = Some(id());
            }
        }

        pub(super) fn finish(self, names: &Names, zone: &Zone) -> Sessions {
            let mut named: Vec<(String, Building)> = self
                .sessions
                .into_iter()
                .filter_map(|mut b| Some((b.id.take()?, b)))
                .collect();
            let mut all = Sums::default();
            let mut unpriced = BTreeSet::new();
            for (_, b) in &named {
                all.add(&b.sums);
                for (m, _, r) in &b.models {
                    if r.unpriced > 0 {
                        unpriced.insert(*m);
                    }
                }
            }
            // Ordered before the rows are made: a row is several times a session's size
            // to move around.
            named.sort_unstable_by(|(a_id, a), (b_id, b)| {
                a.last_ts.cmp(&b.last_ts).then_with(|| a_id.cmp(b_id))
            });
            // Made on every core: two texts of time, the models' and the project's per
            // row add up over tens of thousands of rows, and rayon keeps their order.
            let rows: Vec<TeamSessionRow> = named
                .into_par_iter()
                .map(|(id, b)| {
                    // The main model: most tokens (of the named ones); ties go to the
                    // alphabetically first.
                    let main_model = b
                        .models
                        .iter()
                        .filter_map(|(m, t, _)| {
                            names.models.get(m)?.as_deref().map(|name| (name, *t))
                        })
                        .max_by(|x, y| x.1.cmp(&y.1).then_with(|| y.0.cmp(x.0)))
                        .map(|(m, _)| m.to_owned());
                    let mut models = ModelCounts::new();
                    for (m, _, r) in &b.models {
                        let counts = models.entry(names.model_label(*m).to_owned()).or_default();
                        counts.responses += r.responses;
                        counts.unpriced += r.unpriced;
                    }
                    let figures = SessionFigures {
                        session_id: id,
                        first_ts: b.first_ts,
                        last_ts: b.last_ts,
                        project_path: b
                            .project
                            .and_then(|(_, p)| names.project(p))
                            .map(str::to_owned),
                        main_model,
                        sums: ctm_analytics_sums::of(&b.sums),
                        models,
                    };
                    TeamSessionRow {
                        session: ctm_analytics::session_row_of(figures, zone),
                        user: b
                            .user
                            .map_or_else(String::new, |(_, m)| names.machine(m).0.to_owned()),
                    }
                })
                .collect();
            let unpriced_models: BTreeSet<String> = unpriced
                .into_iter()
                .map(|m| names.model_label(m).to_owned())
                .collect();
            Sessions {
                rows,
                totals: Totals::from(&ctm_analytics_sums::of(&all)),
                unpriced_models: unpriced_models.into_iter().collect(),
            }
        }
    }

    fn total_tokens(s: &Sums) -> i64 {
        s.input_tokens
            + s.output_tokens
            + s.cache_write_5m_tokens
            + s.cache_write_1h_tokens
            + s.cache_read_tokens
    }
}
