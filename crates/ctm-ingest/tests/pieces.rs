//! Ingesting files that grow in pieces, cut at arbitrary byte offsets (mid-line too),
//! gives exactly the store one ingest of the whole files gives, whether the runs walk
//! or learn from the last walk's stat list which transcripts grew.

use std::path::{Path, PathBuf};

use ctm_ingest::ingest;
use ctm_pricing::PriceTable;
use ctm_store::{derive, OpenOptions, Store};
use proptest::prelude::*;

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/claude-code-real/projects")
        .join(rel);
    std::fs::read(p).unwrap()
}

/// The real session with subagents the tests below use.
const SESSION: &str =
    "-home-marco-projects-spotter-worktrees-spotter-a0y/fa812bfe-b295-4cca-9c2f-fdf01028cb46";
const SUBAGENTS: [&str; 3] = ["agent-aa84377", "agent-a93ccab", "agent-acompact-70d8e7"];

/// Real transcripts (one with agent_progress echoes) under one project folder, a second
/// copy of one of them as a resumed session would copy it, and a session whose
/// subagents' responses its own transcript echoes (written together, see
/// `a_session_written_together_equals_its_files_one_run_at_a_time`).
fn sources() -> Vec<(String, Vec<u8>)> {
    let short = fixture("-home-USER-projects-spotter-misc/short.jsonl");
    let session = std::iter::once(("s/session.jsonl".to_owned(), format!("{SESSION}.jsonl")))
        .chain(SUBAGENTS.iter().map(|a| {
            (
                format!("s/session/subagents/{a}.jsonl"),
                format!("{SESSION}/subagents/{a}.jsonl"),
            )
        }))
        .map(|(name, rel)| (name, fixture(&rel)));
    vec![
        ("p/short.jsonl", short.clone()),
        (
            "p/tool_heavy.jsonl",
            fixture("-home-USER-projects-spotter-misc/tool_heavy.jsonl"),
        ),
        (
            "p/subagent.jsonl",
            fixture("-home-USER-projects-spotter-misc/subagent.jsonl"),
        ),
        ("q/resumed.jsonl", short),
    ]
    .into_iter()
    .map(|(name, bytes)| (name.to_owned(), bytes))
    .chain(session)
    .collect()
}

/// Every column that describes a response, in key order (ingested_at and id excluded).
fn dump(store: &Store) -> Vec<String> {
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT dedup_key, ts, session_id, project_path, model, input_tokens, output_tokens, \
             cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, is_sidechain, agent_id, origin, \
             replay_of, cost_usd, source_path FROM responses ORDER BY dedup_key",
        )
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn write_all(root: &Path, files: &[(String, Vec<u8>)], lens: &[usize]) {
    for ((name, bytes), &len) in files.iter().zip(lens) {
        let path = root.join("projects").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if len > 0 || path.exists() {
            std::fs::write(&path, &bytes[..len]).unwrap();
        }
    }
}

fn once(files: &[(String, Vec<u8>)]) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let lens: Vec<usize> = files.iter().map(|f| f.1.len()).collect();
    write_all(&root, files, &lens);
    let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
    ingest(&mut store, &PriceTable::embedded(), &[root], None).unwrap();
    // Paths differ between runs only by the temporary folder: compare them relative.
    (
        dump(&store)
            .into_iter()
            .map(|l| l.replace(&dir.path().display().to_string(), ""))
            .collect(),
        String::new(),
    )
}

/// Folder times set to a new instant in the past whenever a change moved them, as on a
/// disk whose folders changed long ago: listings are then past the racy window, the
/// walk's stat list is recorded, and the next run can use it.
#[derive(Default)]
struct FolderTimes(std::collections::HashMap<PathBuf, std::time::SystemTime>);

impl FolderTimes {
    fn settle(&mut self, projects: &Path, stage: usize) {
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(100_000)
            + std::time::Duration::from_secs(stage as u64 + 1);
        // Every folder under `projects`, at any depth (a session's `subagents` too).
        let mut folders = vec![projects.to_path_buf()];
        let mut at = 0;
        while at < folders.len() {
            for e in std::fs::read_dir(&folders[at]).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    folders.push(e.path());
                }
            }
            at += 1;
        }
        for d in folders {
            let now = std::fs::metadata(&d).unwrap().modified().unwrap();
            if self.0.get(&d) != Some(&now) {
                std::fs::File::open(&d)
                    .unwrap()
                    .set_times(std::fs::FileTimes::new().set_modified(when))
                    .unwrap();
                self.0.insert(d, when);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn ingesting_in_pieces_equals_ingesting_once(cuts in prop::collection::vec(prop::collection::vec(0.0f64..1.0, 1..5), 8)) {
        let files = sources();
        let (expected, _) = once(&files);

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let prices = PriceTable::embedded();
        // Stage k grows every file to its k-th cut (a fraction of its length), then ingests.
        let stages = cuts.iter().map(Vec::len).max().unwrap();
        let mut sorted: Vec<Vec<usize>> = files
            .iter()
            .zip(&cuts)
            .map(|((_, bytes), c)| {
                let mut v: Vec<usize> = c.iter().map(|f| (f * bytes.len() as f64) as usize).collect();
                v.sort_unstable();
                v
            })
            .collect();
        for (s, (_, bytes)) in sorted.iter_mut().zip(&files) {
            s.push(bytes.len());
        }
        let mut folder_times = FolderTimes::default();
        let mut before: Vec<usize> = vec![0; files.len()];
        for stage in 0..=stages {
            let lens: Vec<usize> = sorted.iter().map(|s| s[stage.min(s.len() - 1)]).collect();
            write_all(&root, &files, &lens);
            folder_times.settle(&root.join("projects"), stage);
            let report = ingest(&mut store, &prices, std::slice::from_ref(&root), None).unwrap();
            // From the second stage on, the last run's stat list says what changed when
            // only transcripts grew (files already there, none new).
            let existed = before.iter().all(|&b| b > 0);
            if stage > 0 && existed {
                if lens == before {
                    prop_assert!(report.stat_list_held, "stage {stage}: {report:?}");
                } else {
                    prop_assert!(report.stat_list_grown, "stage {stage}: {report:?}");
                }
            }
            before = lens;
        }
        let got: Vec<String> = dump(&store).into_iter().map(|l| l.replace(&dir.path().display().to_string(), "")).collect();
        prop_assert_eq!(got, expected);
        prop_assert!(derive::check(store.conn()).unwrap().is_empty());
    }
}

/// A session's files written in one run (the sightings they share merged before the
/// writer sees them) give the store that writing them one run at a time gives (each
/// later file's sightings merged into the stored rows), in either order.
#[test]
fn a_session_written_together_equals_its_files_one_run_at_a_time() {
    let files: Vec<(String, Vec<u8>)> = sources()
        .into_iter()
        .filter(|(name, _)| name.starts_with("s/"))
        .collect();
    assert_eq!(files.len(), 1 + SUBAGENTS.len());
    // The test means something only if the parent echoes a subagent's responses.
    let echoed = |id: &[u8]| files[0].1.windows(id.len()).any(|w| w == id);
    let shared = files[1..].iter().any(|(_, bytes)| {
        bytes
            .split(|&b| b == b'"')
            .filter(|s| s.starts_with(b"msg_"))
            .any(echoed)
    });
    assert!(shared, "the parent echoes none of its subagents' responses");
    let (together, _) = once(&files);
    for order in [vec![0, 1, 2, 3], vec![3, 2, 1, 0]] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let mut store = Store::open(&dir.path().join("ctm.db"), &OpenOptions::default()).unwrap();
        let mut lens = vec![0; files.len()];
        for &i in &order {
            lens[i] = files[i].1.len();
            write_all(&root, &files, &lens);
            ingest(
                &mut store,
                &PriceTable::embedded(),
                std::slice::from_ref(&root),
                None,
            )
            .unwrap();
        }
        let apart: Vec<String> = dump(&store)
            .into_iter()
            .map(|l| l.replace(&dir.path().display().to_string(), ""))
            .collect();
        assert_eq!(apart, together, "order {order:?}");
        assert!(derive::check(store.conn()).unwrap().is_empty());
    }
}
