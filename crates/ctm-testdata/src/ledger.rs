//! The ground truth: every response the generator writes is registered here
//! and updated from each line that actually lands on disk, so the totals follow
//! the counting rules by construction (max output_tokens, earliest timestamp).

use std::collections::{BTreeMap, HashMap};

use crate::reference::{self, Billable};
use crate::text::{date_string, DAY_MS};
use crate::{Expected, Totals};

#[derive(Clone, Debug)]
pub(crate) struct Resp {
    pub sess: u32,
    pub proj: u32,
    pub model: u32,
    pub ts: i64,
    pub seen: bool,
    pub input: u64,
    pub output: u64,
    pub cc: u64,
    pub cc5: u64,
    pub cc1: u64,
    pub cr: u64,
    pub web: u64,
    /// Written with `usage.speed: "fast"`.
    pub fast: bool,
    /// Written with `usage.inference_geo: "us"`.
    pub us: bool,
}

impl Resp {
    fn billable<'a>(&self, model: &'a str) -> Billable<'a> {
        Billable {
            model,
            ts_ms: self.ts,
            input: self.input,
            output: self.output,
            cache_5m: self.cc5,
            cache_1h: self.cc1,
            cache_read: self.cr,
            web_searches: self.web,
            fast: self.fast,
            us: self.us,
        }
    }
}

/// Claude Code's own account of one session's models, as a `cost-state` line states it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModelAccount {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
    pub web: u64,
    pub cost_usd: f64,
    /// Responses the reference has no price for.
    pub unpriced: u64,
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

#[derive(Default)]
pub(crate) struct Ledger {
    resps: Vec<Resp>,
    /// The responses of each session, by session index.
    by_session: HashMap<u32, Vec<usize>>,
    sessions: Interner,
    projects: Interner,
    models: Interner,
}

/// Usage figures shared by all lines of one response (output aside).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fig {
    pub input: u64,
    pub cc: u64,
    pub cc5: u64,
    pub cc1: u64,
    pub cr: u64,
    pub web: u64,
    /// Whether lines carry the cache_creation breakdown object.
    pub breakdown: bool,
    /// The lines write `cache_creation_input_tokens: 0` beside the breakdown (the
    /// breakdown's sum counts).
    pub flat_zero: bool,
}

impl Ledger {
    pub fn session(&mut self, s: &str) -> u32 {
        self.sessions.get(s)
    }
    pub fn project(&mut self, s: &str) -> u32 {
        self.projects.get(s)
    }
    pub fn model(&mut self, s: &str) -> u32 {
        self.models.get(s)
    }

    pub fn new_resp(
        &mut self,
        sess: u32,
        proj: u32,
        model: u32,
        f: &Fig,
        fast: bool,
        us: bool,
    ) -> usize {
        // Without the breakdown object the whole cache write counts as 5m.
        let (cc5, cc1) = if f.breakdown {
            (f.cc5, f.cc1)
        } else {
            (f.cc, 0)
        };
        self.resps.push(Resp {
            sess,
            proj,
            model,
            ts: i64::MAX,
            seen: false,
            input: f.input,
            output: 0,
            cc: f.cc,
            cc5,
            cc1,
            cr: f.cr,
            web: f.web,
            fast,
            us,
        });
        let i = self.resps.len() - 1;
        self.by_session.entry(sess).or_default().push(i);
        i
    }

    /// Per model, the session's responses seen so far, priced by the reference.
    pub fn session_account(&self, sess: u32) -> BTreeMap<String, ModelAccount> {
        let mut out: BTreeMap<String, ModelAccount> = BTreeMap::new();
        for &i in self.by_session.get(&sess).into_iter().flatten() {
            let r = &self.resps[i];
            if !r.seen {
                continue;
            }
            let model = &self.models.names[r.model as usize];
            let a = out.entry(model.clone()).or_default();
            a.input += r.input;
            a.output += r.output;
            a.cache_read += r.cr;
            a.cache_creation += r.cc;
            a.web += r.web;
            match reference::price(&r.billable(model)) {
                Some(c) => a.cost_usd += c,
                None => a.unpriced += 1,
            }
        }
        out
    }

    /// A line of response `i` was written with this output count and time.
    pub fn observe(&mut self, i: usize, output: u64, ts: i64) {
        let r = &mut self.resps[i];
        r.seen = true;
        r.output = r.output.max(output);
        r.ts = r.ts.min(ts);
    }

    pub fn get(&self, i: usize) -> &Resp {
        &self.resps[i]
    }

    /// Adds every seen response into `exp` (totals and all breakdowns).
    pub fn add_into(&self, exp: &mut Expected) -> anyhow::Result<()> {
        let mut zones = Vec::new();
        for z in &exp.zones {
            let tz = jiff::tz::TimeZone::get(z)
                .map_err(|e| anyhow::anyhow!("unknown time zone {z:?}: {e}"))?;
            exp.by_day.entry(z.clone()).or_default();
            zones.push((z.clone(), tz));
        }
        // Day keys repeat a lot; cache the strings per zone and day number.
        let mut day_names: BTreeMap<i64, String> = BTreeMap::new();
        for r in self.resps.iter().filter(|r| r.seen) {
            let t = Totals {
                responses: 1,
                input_tokens: r.input,
                output_tokens: r.output,
                cache_creation_tokens: r.cc,
                cache_creation_5m_tokens: r.cc5,
                cache_creation_1h_tokens: r.cc1,
                cache_read_tokens: r.cr,
                web_search_requests: r.web,
            };
            exp.totals.add(&t);
            let model = &self.models.names[r.model as usize];
            match reference::price(&r.billable(model)) {
                Some(c) => {
                    exp.cost.total_usd += c;
                    *exp.cost.by_model.entry(model.clone()).or_default() += c;
                    *exp.cost
                        .by_session
                        .entry(self.sessions.names[r.sess as usize].clone())
                        .or_default() += c;
                }
                None => exp.cost.unpriced_responses += 1,
            }
            add_to(&mut exp.by_model, model, &t);
            add_to(
                &mut exp.by_session,
                &self.sessions.names[r.sess as usize],
                &t,
            );
            add_to(
                &mut exp.by_project,
                &self.projects.names[r.proj as usize],
                &t,
            );
            let ts = jiff::Timestamp::from_millisecond(r.ts)?;
            for (name, tz) in &zones {
                let off = tz.to_offset(ts).seconds() as i64;
                let day = (r.ts + off * 1000).div_euclid(DAY_MS);
                let key = day_names.entry(day).or_insert_with(|| date_string(day));
                let map = exp.by_day.get_mut(name).expect("zone inserted above");
                add_to(map, key, &t);
            }
        }
        Ok(())
    }
}

fn add_to(map: &mut BTreeMap<String, Totals>, key: &str, t: &Totals) {
    match map.get_mut(key) {
        Some(x) => x.add(t),
        None => {
            map.insert(key.to_string(), t.clone());
        }
    }
}
