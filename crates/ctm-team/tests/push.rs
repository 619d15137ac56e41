//! Pushing stores into a real PostgreSQL: exactly once per response, across machines,
//! again and again, with the rollups equal to the responses after every push.

use std::path::{Path, PathBuf};

use ctm_aggregate::Filter;
use ctm_pricing::PriceTable;
use ctm_store::{OpenOptions, Store};
use ctm_team::{push, ProjectPaths, PushOptions, Pusher, TeamUrl};
use ctm_test_postgres::{shared, skip, Database};
use ctm_testdata::GenConfig;

struct Machine {
    _dir: tempfile::TempDir,
    store: Store,
}

/// A store ingested from a generated root.
fn machine_with(root: &Path) -> Machine {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    ctm_ingest::ingest(
        &mut store,
        &PriceTable::embedded(),
        &[root.to_path_buf()],
        None,
    )
    .unwrap();
    Machine { _dir: dir, store }
}

fn generated(dir: &Path, seed: u64) -> PathBuf {
    let root = dir.join(format!("root-{seed}"));
    ctm_testdata::generate(&root, &GenConfig::small(seed)).unwrap();
    root
}

fn opts(person: &str, machine: &str) -> PushOptions {
    PushOptions::new(
        Pusher {
            person: person.into(),
            machine: machine.into(),
        },
        ProjectPaths::Plain,
    )
}

/// (responses, output tokens, cost nano-dollars) of a store's billed responses.
fn local_totals(store: &Store) -> (i64, i64, i64) {
    let mut t = (0, 0, 0);
    for f in store
        .facts_between(i64::MIN, i64::MAX, &Filter::default())
        .unwrap()
    {
        t.0 += f.sums.responses as i64;
        t.1 += f.sums.output_tokens as i64;
        t.2 += f.sums.cost_nanos;
    }
    t
}

/// The same from the rollups, and from the responses, which must agree.
fn team_totals(db: &Database) -> (i64, i64, i64) {
    let mut c = db.client();
    let problems = ctm_team::rollups::check(&mut c).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let r = c
        .query_one(
            "SELECT coalesce(sum(responses), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint, \
             coalesce(sum(cost_nanos), 0)::bigint FROM ctm.rollup",
            &[],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

fn database() -> Option<Database> {
    match shared() {
        Ok(s) => Some(s.database()),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

#[test]
fn two_people_and_a_shared_dotfiles_machine_count_each_response_once() {
    let Some(db) = database() else { return };
    let url = TeamUrl::parse(&db.url).unwrap();
    let data = tempfile::tempdir().unwrap();
    let alice_root = generated(data.path(), 1);
    let bob_root = generated(data.path(), 2);

    let mut laptop = machine_with(&alice_root);
    let first = push(&mut laptop.store, &url, &opts("alice", "laptop"), None).unwrap();
    let alice = local_totals(&laptop.store);
    assert!(first.full);
    assert_eq!(
        first.schema_migrated,
        (1..=ctm_team::schema::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert_eq!(first.added, first.sent);
    assert_eq!(team_totals(&db), alice);

    // Again: nothing to send.
    let again = push(&mut laptop.store, &url, &opts("alice", "laptop"), None).unwrap();
    assert_eq!((again.sent, again.full), (0, false));

    // A desktop that syncs the same ~/.claude: every response again, none counted twice.
    let mut desktop = machine_with(&alice_root);
    let shared_push = push(&mut desktop.store, &url, &opts("alice", "desktop"), None).unwrap();
    assert_eq!(shared_push.added, 0);
    assert_eq!(team_totals(&db), alice);
    let shared: i64 = db
        .client()
        .query_one("SELECT count(*) FROM ctm.responses WHERE shared", &[])
        .unwrap()
        .get(0);
    assert_eq!(shared, alice.0 + replays(&laptop.store));

    let mut bobs = machine_with(&bob_root);
    push(&mut bobs.store, &url, &opts("bob", "box"), None).unwrap();
    let bob = local_totals(&bobs.store);
    assert_eq!(
        team_totals(&db),
        (alice.0 + bob.0, alice.1 + bob.1, alice.2 + bob.2)
    );
}

/// Sidechain replays travel too (marked not billed).
fn replays(store: &Store) -> i64 {
    store.totals().unwrap().sidechain_replays as i64
}

/// A database an older ctm left at schema version 1 (responses with every price flag,
/// replays, a v1 rollup) migrates in place: the rollup gains the price flags and prompt
/// extremes, the session rollup is built, both equal their responses, reports read the
/// same totals, and pushes go on.
#[test]
fn a_version_1_database_migrates_in_place_and_its_rollups_equal_the_responses() {
    let Some(db) = database() else { return };
    let url = TeamUrl::parse(&db.url).unwrap();
    let mut c = db.client();
    let v1 = ctm_team::schema::ensure_version(&mut c, &url, 1).unwrap();
    assert_eq!((v1.from, v1.info.version), (0, 1));
    // Two people, 3,000 responses over two days across four sessions, three models,
    // fast, US, long-context and replayed ones, as a version 1 push wrote them.
    c.batch_execute(
        "INSERT INTO ctm.people (name) VALUES ('alice'), ('bob');
         INSERT INTO ctm.machines (person_id, name) VALUES (1, 'laptop'), (2, 'box');
         INSERT INTO ctm.sessions (session_id) VALUES ('s-1'), ('s-2'), ('s-3'), (NULL);
         INSERT INTO ctm.projects (path) VALUES ('/p/one'), ('/p/two');
         INSERT INTO ctm.models (name) VALUES ('claude-opus-4-6'), ('claude-sonnet-4-5'), (NULL);
         INSERT INTO ctm.responses (key, machine_id, ts, session_ref, project_id, model_id,
             input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
             cache_read_tokens, web_search_requests, web_fetch_requests, speed, service_tier,
             inference_geo, is_sidechain, agent_id, origin, cc_version, billed, cost_nanos, priced,
             price_model, price_version, long_context, price_multiplier, cache_savings_nanos)
         SELECT 'm:' || i, 1 + i % 2, 1778400000000 + i * 57113, 1 + i % 4, 1 + i % 2, 1 + i % 3,
             i % 997, 10 + i % 131, i % 17 * 100, i % 5 * 300, i * 97 % 250000, i % 3, 0,
             CASE WHEN i % 7 = 0 THEN 'fast' WHEN i % 7 = 1 THEN 'standard' END, NULL,
             CASE WHEN i % 11 = 0 THEN 'us' WHEN i % 11 = 1 THEN 'global' END,
             i % 19 = 0, NULL, 0, NULL, i % 23 <> 0, i * 1013, i % 3 <> 2,
             NULL, 'v', i * 97 % 250000 > 200000, 1.0, i * 7
         FROM generate_series(1, 3000) AS i;
         INSERT INTO ctm.rollup
         SELECT (2 * (ts - ((ts % 900000) + 900000) % 900000) / 900000 + (((ts % 900000) + 900000) % 900000 <> 0)::int),
             machine_id, session_ref, project_id, model_id, count(*), sum(input_tokens),
             sum(output_tokens), sum(cache_write_5m_tokens), sum(cache_write_1h_tokens),
             sum(cache_read_tokens), sum(web_search_requests), sum(cost_nanos),
             sum(cache_savings_nanos), count(*) FILTER (WHERE NOT priced), min(ts), max(ts)
         FROM ctm.responses WHERE billed GROUP BY 1, 2, 3, 4, 5;",
    )
    .unwrap();
    let totals = |c: &mut postgres::Client| -> (i64, i64, i64) {
        let r = c
            .query_one(
                "SELECT sum(responses)::bigint, sum(output_tokens)::bigint, sum(cost_nanos)::bigint \
                 FROM ctm.rollup",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let before = totals(&mut c);
    assert!(
        ctm_team::schema::check_readable(&mut c, &url).is_err(),
        "a reader of this version refuses version 1 until it is migrated"
    );

    let migrated = ctm_team::schema::ensure(&mut c, &url).unwrap();
    assert_eq!(migrated.from, 1);
    assert_eq!(
        migrated.applied.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(migrated.info.database_id, v1.info.database_id);
    let problems = ctm_team::rollups::check(&mut c).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(totals(&mut c), before);
    let flags: (i64, i64, i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*) FILTER (WHERE fast), count(*) FILTER (WHERE us), \
                 count(*) FILTER (WHERE long_context), count(*) FILTER (WHERE min_prompt < max_prompt) \
                 FROM ctm.rollup",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert!(
        flags.0 > 0 && flags.1 > 0 && flags.2 > 0 && flags.3 > 0,
        "{flags:?}"
    );
    let sessions: i64 = c
        .query_one("SELECT sum(responses)::bigint FROM ctm.session_rollup", &[])
        .unwrap()
        .get(0);
    assert_eq!(sessions, before.0);

    // The reports read it, as everyone and as one person.
    let mut reader = ctm_team::reports::Reader::open(&url).unwrap();
    let q = |user: Option<&str>| ctm_team::reports::TeamQuery {
        report: ctm_analytics::ReportQuery::in_zone(
            ctm_analytics::Zone::resolve(Some("UTC")).unwrap(),
        ),
        user: user.map(str::to_owned),
    };
    let users = reader.users(&q(None), None).unwrap();
    assert_eq!(users.totals.responses as i64, before.0);
    let listed = reader.sessions(&q(Some("alice")), None).unwrap();
    let alice: i64 = c
        .query_one(
            "SELECT count(*) FROM ctm.responses WHERE billed AND machine_id = 1 \
             AND session_ref <> 4",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(listed.totals.responses as i64, alice);

    // And a push goes on from there.
    let data = tempfile::tempdir().unwrap();
    let mut laptop = machine_with(&generated(data.path(), 3));
    let pushed = push(&mut laptop.store, &url, &opts("carol", "laptop"), None).unwrap();
    assert!(pushed.schema_migrated.is_empty());
    assert_eq!(team_totals(&db).0, before.0 + local_totals(&laptop.store).0);
}
