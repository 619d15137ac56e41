//! A machine's copy of a response, the response as the team counts it, merged from its
//! copies, and the ids of their texts: the values [`crate::responses`] stores and
//! [`crate::rollups`] sums (both import them from here, so neither imports the other
//! both ways).
//!
//! A response is merged from its copies by the local stores' rule, [`Response::merge`]
//! (usage of the copy with the highest output, identity of the earliest), so pushing from
//! two machines that share a `~/.claude` counts each response once, with the most output
//! either saw. What the rule leaves open is decided by the machines' names, so the result
//! never depends on which machine pushed first: the identity's machine (the response's
//! owner, whose person and machine the rollups count it for) is the one with the earliest
//! copy, then the least (person, machine) name; the price comes with the usage, from the
//! copy with the greatest usage, then the least name; whether it is billed comes with the
//! identity (a replay is decided by time and sidechain, which are identity).

use std::collections::HashMap;
use std::sync::Arc;

use ctm_aggregate::nanos_of_usd;
use ctm_model::Response;
use postgres::Transaction;

/// A machine of the team database, with the names that break ties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: i32,
    pub person: String,
    pub name: String,
}

/// Every machine, by id.
pub type Machines = HashMap<i32, Machine>;

pub fn load_machines(tx: &mut Transaction) -> Result<Machines, postgres::Error> {
    Ok(tx
        .query(
            "SELECT m.id, p.name, m.name FROM ctm.machines m JOIN ctm.people p ON p.id = m.person_id",
            &[],
        )?
        .into_iter()
        .map(|r| {
            let m = Machine {
                id: r.get(0),
                person: r.get(1),
                name: r.get(2),
            };
            (m.id, m)
        })
        .collect())
}

/// A price as the team database keeps it: money in nano-dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub cost_nanos: i64,
    pub priced: bool,
    pub price_model: Option<String>,
    pub price_version: String,
    pub long_context: bool,
    pub multiplier: f64,
    pub cache_savings_nanos: i64,
}

impl Price {
    /// A price worked out by a price table, its money rounded as the store rounds it.
    pub fn of(p: ctm_store::facts::Pricing) -> Price {
        Price {
            cost_nanos: nanos_of_usd(p.cost_usd),
            priced: p.priced,
            price_model: p.price_model,
            price_version: p.price_version,
            long_context: p.long_context,
            multiplier: p.multiplier,
            cache_savings_nanos: nanos_of_usd(p.cache_savings_usd),
        }
    }
}

/// One machine's copy of a response. Its texts (session, project, model) are what the
/// merge orders by; the database keeps them as ids ([`Dims`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    pub machine_id: i32,
    pub response: Response,
    pub billed: bool,
    pub price: Price,
}

/// The response as counted: merged from its copies.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The owner: the machine whose copy gave the identity.
    pub machine_id: i32,
    /// More than one machine's copy (kept in `ctm.sightings`).
    pub shared: bool,
    pub response: Response,
    pub billed: bool,
    pub price: Price,
}

/// Merges copies (at least one) of one response.
pub fn merge(copies: &[Copy], machines: &Machines) -> Merged {
    let names = |c: &Copy| {
        machines
            .get(&c.machine_id)
            .map(|m| (m.person.clone(), m.name.clone()))
            .unwrap_or_default()
    };
    let owner = copies
        .iter()
        .min_by(|a, b| {
            a.response
                .identity_order(&b.response)
                .then_with(|| names(a).cmp(&names(b)))
        })
        .expect("a response has at least one copy");
    let priced = copies
        .iter()
        .max_by(|a, b| {
            a.response
                .usage_order(&b.response)
                .then_with(|| names(b).cmp(&names(a)))
        })
        .expect("a response has at least one copy");
    let response = copies
        .iter()
        .map(|c| c.response.clone())
        .reduce(|mut a, b| {
            a.merge(b);
            a
        })
        .expect("a response has at least one copy");
    Merged {
        machine_id: owner.machine_id,
        shared: copies.len() > 1,
        response,
        billed: owner.billed,
        price: priced.price.clone(),
    }
}

/// Ids of the texts that repeat from response to response.
#[derive(Debug, Default)]
pub struct Dims {
    pub projects: HashMap<Option<Arc<str>>, i32>,
    pub models: HashMap<Option<Arc<str>>, i32>,
    pub sessions: HashMap<Option<Arc<str>>, i32>,
}

impl Dims {
    /// Makes sure every text of these responses has an id, and knows it.
    pub fn resolve<'a>(
        &mut self,
        tx: &mut Transaction,
        responses: impl Iterator<Item = &'a Response> + Clone,
    ) -> Result<(), postgres::Error> {
        let projects = missing(responses.clone().map(|r| &r.project_path), &self.projects);
        resolve_nullable(tx, "projects", "path", projects, &mut self.projects)?;
        let models = missing(responses.clone().map(|r| &r.model), &self.models);
        resolve_nullable(tx, "models", "name", models, &mut self.models)?;
        let sessions = missing(responses.map(|r| &r.session_id), &self.sessions);
        resolve_nullable(tx, "sessions", "session_id", sessions, &mut self.sessions)?;
        Ok(())
    }

    pub fn project(&self, r: &Response) -> i32 {
        self.projects[&r.project_path]
    }

    pub fn model(&self, r: &Response) -> i32 {
        self.models[&r.model]
    }

    pub fn session(&self, r: &Response) -> i32 {
        self.sessions[&r.session_id]
    }
}

fn missing<'a>(
    values: impl Iterator<Item = &'a Option<Arc<str>>>,
    known: &HashMap<Option<Arc<str>>, i32>,
) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = values
        .filter(|v| !known.contains_key(*v))
        .map(|v| v.as_deref().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Ids for texts of a table whose text may be NULL (a value there, `NULLS NOT DISTINCT`).
fn resolve_nullable(
    tx: &mut Transaction,
    table: &str,
    column: &str,
    values: Vec<Option<String>>,
    into: &mut HashMap<Option<Arc<str>>, i32>,
) -> Result<(), postgres::Error> {
    if values.is_empty() {
        return Ok(());
    }
    tx.execute(
        &format!(
            "INSERT INTO ctm.{table} ({column}) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
        ),
        &[&values],
    )?;
    let with_null = values.iter().any(Option::is_none);
    for r in tx.query(
        &format!(
            "SELECT id, {column} FROM ctm.{table} WHERE {column} = ANY($1) OR ({column} IS NULL AND $2)"
        ),
        &[&values, &with_null],
    )? {
        let text: Option<String> = r.get(1);
        into.insert(text.map(Into::into), r.get(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctm_model::{message_key, Origin, Usage};

    fn machines() -> Machines {
        [
            (1, "alice", "laptop"),
            (2, "alice", "desktop"),
            (3, "bob", "box"),
        ]
        .into_iter()
        .map(|(id, p, n)| {
            (
                id,
                Machine {
                    id,
                    person: p.into(),
                    name: n.into(),
                },
            )
        })
        .collect()
    }

    fn copy(machine_id: i32, ts: i64, output: u64, cost: i64) -> Copy {
        Copy {
            machine_id,
            response: Response {
                key: message_key("m", "r"),
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
            },
            billed: true,
            price: Price {
                cost_nanos: cost,
                priced: true,
                price_model: None,
                price_version: "v".into(),
                long_context: false,
                multiplier: 1.0,
                cache_savings_nanos: 0,
            },
        }
    }

    #[test]
    fn the_most_output_and_the_earliest_identity_win_across_machines() {
        let ms = machines();
        let merged = merge(&[copy(1, 2_000, 400, 40), copy(3, 1_000, 10, 1)], &ms);
        assert_eq!(merged.machine_id, 3, "the earliest copy owns it");
        assert_eq!(merged.response.timestamp_ms, 1_000);
        assert_eq!(merged.response.usage.output_tokens, 400);
        assert_eq!(
            merged.price.cost_nanos, 40,
            "the price comes with the usage"
        );
        assert!(merged.shared);
    }

    #[test]
    fn ties_go_to_the_least_name_whatever_the_order() {
        let ms = machines();
        // Identical copies (a shared ~/.claude) priced by two price tables.
        let a = copy(1, 1_000, 5, 7);
        let b = copy(2, 1_000, 5, 9);
        for copies in [vec![a.clone(), b.clone()], vec![b, a]] {
            let m = merge(&copies, &ms);
            // alice/desktop < alice/laptop.
            assert_eq!(m.machine_id, 2);
            assert_eq!(m.price.cost_nanos, 9);
        }
    }
}
