//! Exactly once, whatever the order: machines whose stores change between pushes (more
//! output seen, earlier sightings, replays, new prices), pushing in random order, in small
//! batches, with people forgotten and pushing again, leave rollups equal to the responses
//! after every step, and end where pushing their final stores in any order ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use ctm_model::{message_key, Origin, Response, Usage};
use ctm_store::facts::{FactWriter, Pricing, Repricer};
use ctm_store::{OpenOptions, Store};
use ctm_team::{forget, push, ProjectPaths, PushOptions, Pusher, TeamUrl};
use ctm_test_postgres::{shared, skip, Database};
use proptest::prelude::*;

const MACHINES: [(&str, &str); 3] = [("alice", "laptop"), ("alice", "desktop"), ("bob", "box")];

/// One sighting of response `key` (0..12) on a machine.
#[derive(Debug, Clone)]
struct Sighting {
    key: u8,
    request: u8,
    ts: i64,
    output: u64,
    sidechain: bool,
    session: u8,
    project: u8,
    model: u8,
}

#[derive(Debug, Clone)]
enum Step {
    See(usize, Vec<Sighting>),
    Reprice(usize, u32),
    Push(usize),
    Forget(usize),
}

fn sighting() -> impl Strategy<Value = Sighting> {
    (
        0u8..12,
        0u8..2,
        0i64..24,
        1u64..500,
        prop::bool::weighted(0.2),
        0u8..3,
        0u8..3,
        0u8..2,
    )
        .prop_map(
            |(key, request, t, output, sidechain, session, project, model)| Sighting {
                key,
                request,
                // A few quarter-hours, so responses share groups and move within and between
                // them; some at a quarter-hour's first millisecond (a slot of its own).
                ts: 1_767_225_600_000 + t * 2 * 60_000 + if t % 3 == 0 { 0 } else { 1 + t % 4 },
                output,
                sidechain,
                session,
                project,
                model,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, prop::collection::vec(sighting(), 1..8)).prop_map(|(m, s)| Step::See(m, s)),
        1 => (0..3usize, 1u32..4).prop_map(|(m, f)| Step::Reprice(m, f)),
        4 => (0..3usize).prop_map(Step::Push),
        1 => (0..3usize).prop_map(Step::Forget),
    ]
}

fn response(s: &Sighting) -> Response {
    let text = |prefix: &str, n: u8| -> Option<Arc<str>> { Some(format!("{prefix}{n}").into()) };
    Response {
        key: message_key(&format!("msg{}", s.key), &format!("req{}", s.request)),
        timestamp_ms: s.ts,
        session_id: text("session-", s.session),
        project_path: text("/work/p", s.project),
        model: if s.model == 0 {
            text("claude-opus-4-", 6)
        } else {
            None
        },
        usage: Usage {
            input_tokens: 3,
            output_tokens: s.output,
            cache_read_tokens: 100,
            ..Usage::default()
        },
        speed: None,
        service_tier: None,
        inference_geo: None,
        is_sidechain: s.sidechain,
        agent_id: None,
        origin: Origin::Assistant,
        recorded_cost_usd: None,
        cc_version: None,
        source_path: Some("/local/file.jsonl".into()),
    }
}

fn price(factor: u32) -> impl Fn(&Response) -> Pricing {
    move |r| Pricing {
        cost_usd: r.usage.output_tokens as f64 * 1.5e-7 * f64::from(factor),
        priced: r.model.is_some(),
        price_model: r.model.as_deref().map(str::to_owned),
        price_version: format!("v{factor}"),
        long_context: false,
        multiplier: 1.0,
        cache_savings_usd: 1e-9 * f64::from(factor),
    }
}

struct Machine {
    _dir: tempfile::TempDir,
    store: Store,
    factor: u32,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        Machine {
            _dir: dir,
            store,
            factor: 1,
        }
    }

    fn see(&mut self, sightings: &[Sighting]) {
        let p = price(self.factor);
        let tx = self.store.write().unwrap();
        let mut w = FactWriter::new(&tx).unwrap();
        for s in sightings {
            w.upsert(response(s), &p).unwrap();
        }
        w.finish().unwrap();
        tx.commit().unwrap();
    }

    fn reprice(&mut self, factor: u32) {
        self.factor = factor;
        let p = price(factor);
        let tx = self.store.write().unwrap();
        let mut repricer = Repricer::default();
        for row in repricer.responses_after(&tx, i64::MIN, 10_000).unwrap() {
            repricer.set(&tx, row.id, &p(&row.response)).unwrap();
        }
        ctm_store::derive::rebuild_all(&tx).unwrap();
        tx.commit().unwrap();
    }
}

fn options(i: usize) -> PushOptions {
    let mut o = PushOptions::new(
        Pusher {
            person: MACHINES[i].0.into(),
            machine: MACHINES[i].1.into(),
        },
        ProjectPaths::Plain,
    );
    o.batch_size = 5;
    o
}

fn assert_rollups_hold(db: &Database) {
    let problems = ctm_team::rollups::check(&mut db.client()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The database as names and figures (ids differ between databases).
fn content(db: &Database) -> BTreeMap<String, String> {
    let mut c = db.client();
    let mut out = BTreeMap::new();
    for r in c
        .query(
            "SELECT r.key, p.name || '/' || m.name, r.shared, r.ts, s.session_id, pr.path, mo.name, \
             r.output_tokens, r.is_sidechain, r.billed, r.cost_nanos, r.price_version, r.cache_savings_nanos \
             FROM ctm.responses r JOIN ctm.machines m ON m.id = r.machine_id JOIN ctm.people p ON p.id = m.person_id \
             LEFT JOIN ctm.sessions s ON s.id = r.session_ref JOIN ctm.projects pr ON pr.id = r.project_id \
             JOIN ctm.models mo ON mo.id = r.model_id",
            &[],
        )
        .unwrap()
    {
        let key: String = r.get(0);
        let row = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.get::<_, String>(1),
            r.get::<_, bool>(2),
            r.get::<_, i64>(3),
            r.get::<_, Option<String>>(4),
            r.get::<_, Option<String>>(5),
            r.get::<_, Option<String>>(6),
            r.get::<_, i64>(7),
            r.get::<_, bool>(8),
            r.get::<_, bool>(9),
            r.get::<_, i64>(10),
            r.get::<_, String>(11),
            r.get::<_, i64>(12),
        );
        out.insert(key, row);
    }
    for r in c
        .query(
            "SELECT u.slot, p.name || '/' || m.name, pr.path, mo.name, s.session_id, u.responses, u.output_tokens, \
             u.cost_nanos, u.unpriced_responses, u.first_ts, u.last_ts FROM ctm.rollup u \
             JOIN ctm.machines m ON m.id = u.machine_id JOIN ctm.people p ON p.id = m.person_id \
             JOIN ctm.projects pr ON pr.id = u.project_id JOIN ctm.models mo ON mo.id = u.model_id \
             JOIN ctm.sessions s ON s.id = u.session_ref",
            &[],
        )
        .unwrap()
    {
        let key = format!(
            "rollup {} {} {:?} {:?} {:?}",
            r.get::<_, i64>(0),
            r.get::<_, String>(1),
            r.get::<_, Option<String>>(2),
            r.get::<_, Option<String>>(3),
            r.get::<_, Option<String>>(4)
        );
        let v = format!(
            "{} {} {} {} {} {}",
            r.get::<_, i64>(5),
            r.get::<_, i64>(6),
            r.get::<_, i64>(7),
            r.get::<_, i64>(8),
            r.get::<_, i64>(9),
            r.get::<_, i64>(10)
        );
        out.insert(key, v);
    }
    out
}

fn server() -> Option<&'static ctm_test_postgres::Server> {
    match shared() {
        Ok(s) => Some(s),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_order_of_pushes_and_forgets_counts_each_response_once(steps in prop::collection::vec(step(), 1..24)) {
        let Some(server) = server() else { return Ok(()) };
        let db = server.database();
        let url = TeamUrl::parse(&db.url).unwrap();
        let mut machines: Vec<Machine> = (0..3).map(|_| Machine::new()).collect();
        for s in &steps {
            match s {
                Step::See(m, sightings) => machines[*m].see(sightings),
                Step::Reprice(m, f) => machines[*m].reprice(*f),
                Step::Push(m) => {
                    push(&mut machines[*m].store, &url, &options(*m), None).unwrap();
                    assert_rollups_hold(&db);
                }
                Step::Forget(m) => {
                    let (person, machine) = MACHINES[*m];
                    // Forgetting someone who never pushed is refused, and changes nothing.
                    let _ = forget(&url, person, Some(machine));
                    assert_rollups_hold(&db);
                }
            }
        }
        for (i, m) in machines.iter_mut().enumerate() {
            push(&mut m.store, &url, &options(i), None).unwrap();
        }
        assert_rollups_hold(&db);
        // The same final stores pushed into a new database in the other order.
        let fresh = server.database();
        let fresh_url = TeamUrl::parse(&fresh.url).unwrap();
        for (i, m) in machines.iter_mut().enumerate().rev() {
            push(&mut m.store, &fresh_url, &options(i), None).unwrap();
        }
        assert_rollups_hold(&fresh);
        prop_assert_eq!(content(&db), content(&fresh));
    }
}
