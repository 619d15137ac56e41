//! The dimension tables: each text the facts repeat, kept once and referenced by id.
//!
//! `sessions`, `projects`, `models`, `sources` (transcript paths) and `labels` (agent
//! id, speed, service tier, inference geography, Claude Code version) hold one text per
//! row; `pricings` one way a response was priced. Ids start at 1; 0 ([`NONE`]) stands
//! for a response without the text.

use std::collections::HashMap;
use std::sync::Arc;

use ctm_aggregate::{Id, Names, NONE};
use rusqlite::{params, Connection, OptionalExtension};

use crate::StoreError;

/// One dimension table of texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    Session,
    Project,
    Model,
    Source,
    Label,
}

impl Dim {
    fn table(self) -> &'static str {
        match self {
            Dim::Session => "sessions",
            Dim::Project => "projects",
            Dim::Model => "models",
            Dim::Source => "sources",
            Dim::Label => "labels",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Dim::Session => "session_id",
            Dim::Project | Dim::Source => "path",
            Dim::Model => "name",
            Dim::Label => "text",
        }
    }
}

/// How many texts of one dimension an [`Interner`] remembers: sessions and transcripts
/// grow with the history, and a forgotten one is one indexed look-up away.
const REMEMBERED: usize = 4096;

/// The texts of one dimension this run has met, both ways (up to [`REMEMBERED`]), and
/// new ones inserted as they come (inside the caller's write transaction).
#[derive(Debug)]
pub struct Interner {
    dim: Dim,
    ids: HashMap<Arc<str>, Id, foldhash::fast::RandomState>,
    texts: HashMap<Id, Arc<str>, foldhash::fast::RandomState>,
    /// The text last asked for: a transcript's sightings share one copy of each text,
    /// so most asks are the same copy as the last (no hashing).
    last: Option<(Arc<str>, Id)>,
}

impl Interner {
    pub fn new(dim: Dim) -> Interner {
        Interner {
            dim,
            ids: HashMap::default(),
            texts: HashMap::default(),
            last: None,
        }
    }

    /// The id of a text, inserting it when new; [`NONE`] for none.
    pub fn id(&mut self, conn: &Connection, text: Option<&Arc<str>>) -> Result<Id, StoreError> {
        let Some(text) = text else { return Ok(NONE) };
        if let Some((last, id)) = &self.last {
            if Arc::ptr_eq(last, text) {
                return Ok(*id);
            }
        }
        if let Some(&id) = self.ids.get(&**text) {
            self.last = Some((text.clone(), id));
            return Ok(id);
        }
        let (table, column) = (self.dim.table(), self.dim.column());
        let stored: Option<Id> = conn
            .prepare_cached(&format!("SELECT id FROM {table} WHERE {column} = ?1"))?
            .query_row([&**text], |r| r.get(0))
            .optional()?;
        let id = match stored {
            Some(id) => id,
            None => {
                conn.prepare_cached(&format!("INSERT INTO {table} ({column}) VALUES (?1)"))?
                    .execute([&**text])?;
                conn.last_insert_rowid()
            }
        };
        self.remember(text.clone(), id);
        self.last = Some((text.clone(), id));
        Ok(id)
    }

    /// The text of an id; `None` for [`NONE`] or an id with no row.
    pub fn text(&mut self, conn: &Connection, id: Id) -> Result<Option<Arc<str>>, StoreError> {
        if id == NONE {
            return Ok(None);
        }
        if let Some(t) = self.texts.get(&id) {
            return Ok(Some(t.clone()));
        }
        let (table, column) = (self.dim.table(), self.dim.column());
        let stored: Option<String> = conn
            .prepare_cached(&format!("SELECT {column} FROM {table} WHERE id = ?1"))?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(stored.map(|t| {
            let t: Arc<str> = t.into();
            self.remember(t.clone(), id);
            t
        }))
    }

    fn remember(&mut self, text: Arc<str>, id: Id) {
        if self.ids.len() >= REMEMBERED {
            self.ids.clear();
            self.texts.clear();
        }
        self.ids.insert(text.clone(), id);
        self.texts.insert(id, text);
    }
}

/// How a response was priced, as `pricings` keeps it (borrowed from the caller's
/// pricing: most responses find their id without a copy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PricingRow<'a> {
    pub priced: bool,
    pub price_model: Option<&'a str>,
    pub price_version: Option<&'a str>,
    pub long_context: bool,
    pub multiplier: f64,
}

/// [`PricingRow`] as a map key: owned, the multiplier compared bit for bit.
type PricingKey = (bool, Option<String>, Option<String>, bool, u64);

fn key_of(p: &PricingRow) -> PricingKey {
    (
        p.priced,
        p.price_model.map(str::to_owned),
        p.price_version.map(str::to_owned),
        p.long_context,
        p.multiplier.to_bits(),
    )
}

/// Whether a key is that row.
fn is_key_of(k: &PricingKey, p: &PricingRow) -> bool {
    k.0 == p.priced
        && k.3 == p.long_context
        && k.4 == p.multiplier.to_bits()
        && k.1.as_deref() == p.price_model
        && k.2.as_deref() == p.price_version
}

/// The ways of pricing this run has met, inserted as they come.
#[derive(Debug, Default)]
pub struct Pricings {
    ids: foldhash::HashMap<PricingKey, Id>,
    /// Whether each pricing priced its responses, by id.
    priced: foldhash::HashMap<Id, bool>,
    /// The last one asked for: a transcript's responses are mostly priced alike, and
    /// comparing with it costs no key to build.
    last: Option<(PricingKey, Id)>,
}

impl Pricings {
    pub fn id(&mut self, conn: &Connection, p: &PricingRow) -> Result<Id, StoreError> {
        if let Some((key, id)) = &self.last {
            if is_key_of(key, p) {
                return Ok(*id);
            }
        }
        let key = key_of(p);
        if let Some(&id) = self.ids.get(&key) {
            self.last = Some((key, id));
            return Ok(id);
        }
        let stored: Option<Id> = conn
            .prepare_cached(
                "SELECT id FROM pricings WHERE priced = ?1 AND price_model IS ?2 AND price_version IS ?3 \
                 AND long_context = ?4 AND multiplier = ?5",
            )?
            .query_row(
                params![
                    p.priced,
                    p.price_model,
                    p.price_version,
                    p.long_context,
                    p.multiplier
                ],
                |r| r.get(0),
            )
            .optional()?;
        let id = match stored {
            Some(id) => id,
            None => {
                conn.prepare_cached(
                    "INSERT INTO pricings (priced, price_model, price_version, long_context, multiplier) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    p.priced,
                    p.price_model,
                    p.price_version,
                    p.long_context,
                    p.multiplier
                ])?;
                conn.last_insert_rowid()
            }
        };
        self.priced.insert(id, key.0);
        self.ids.insert(key.clone(), id);
        self.last = Some((key, id));
        Ok(id)
    }

    /// Whether the pricing `id` priced its responses (false for an id with no row).
    pub fn priced(&mut self, conn: &Connection, id: Id) -> Result<bool, StoreError> {
        if let Some(&p) = self.priced.get(&id) {
            return Ok(p);
        }
        let p = conn
            .prepare_cached("SELECT priced FROM pricings WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false);
        self.priced.insert(id, p);
        Ok(p)
    }
}

/// The ids of `pricings` whose responses have no price.
pub fn unpriced_pricings(conn: &Connection) -> Result<Vec<Id>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM pricings WHERE priced = 0")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Every interner a fact writer needs.
#[derive(Debug)]
pub struct Dims {
    pub session: Interner,
    pub project: Interner,
    pub model: Interner,
    pub source: Interner,
    /// One per field kept in `labels`, so that each remembers its own last text.
    pub agent: Interner,
    pub speed: Interner,
    pub service_tier: Interner,
    pub inference_geo: Interner,
    pub cc_version: Interner,
    pub pricing: Pricings,
}

impl Default for Dims {
    fn default() -> Self {
        Dims {
            session: Interner::new(Dim::Session),
            project: Interner::new(Dim::Project),
            model: Interner::new(Dim::Model),
            source: Interner::new(Dim::Source),
            agent: Interner::new(Dim::Label),
            speed: Interner::new(Dim::Label),
            service_tier: Interner::new(Dim::Label),
            inference_geo: Interner::new(Dim::Label),
            cc_version: Interner::new(Dim::Label),
            pricing: Pricings::default(),
        }
    }
}

/// What [`load_names`] loads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Which<'a> {
    /// These sessions (`None`: none).
    pub sessions: Option<&'a [Id]>,
    /// Every project.
    pub projects: bool,
    /// Every model.
    pub models: bool,
}

/// The texts of some ids: projects and models are few, loaded whole; sessions are many,
/// loaded by id.
pub fn load_names(conn: &Connection, which: Which) -> Result<Names, StoreError> {
    let mut names = Names::default();
    let all = |dim: Dim, into: &mut HashMap<Id, Arc<str>>| -> Result<(), StoreError> {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT id, {} FROM {}", dim.column(), dim.table()))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            into.insert(r.get(0)?, r.get::<_, String>(1)?.into());
        }
        Ok(())
    };
    if which.projects {
        all(Dim::Project, &mut names.projects)?;
    }
    if which.models {
        all(Dim::Model, &mut names.models)?;
    }
    if let Some(ids) = which.sessions {
        let mut stmt = conn.prepare_cached("SELECT session_id FROM sessions WHERE id = ?1")?;
        for &id in ids {
            if id == NONE || names.sessions.contains_key(&id) {
                continue;
            }
            if let Some(s) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                names.sessions.insert(id, s.into());
            }
        }
    }
    Ok(names)
}

/// The ids of a dimension's texts that `keep` accepts (a filter matched once per text).
pub fn ids_where(
    conn: &Connection,
    dim: Dim,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Vec<Id>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT id, {} FROM {}", dim.column(), dim.table()))?;
    let mut rows = stmt.query([])?;
    let mut ids = Vec::new();
    while let Some(r) = rows.next()? {
        let text = r.get_ref(1)?.as_str().unwrap_or("");
        if keep(text) {
            ids.push(r.get(0)?);
        }
    }
    Ok(ids)
}

/// The id of a session by its exact id.
pub fn session_id(conn: &Connection, session: &str) -> Result<Option<Id>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM sessions WHERE session_id = ?1")?
        .query_row([session], |r| r.get(0))
        .optional()?)
}
