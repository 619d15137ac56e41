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
    assert_eq!(first.schema_migrated, vec![1]);
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
