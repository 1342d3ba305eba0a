//! An ingest run shares the store's writer with the rest of the process (the server's API calls): a write that
//! waits gets in at the next file's end instead of after the whole group of files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vigil_ingest::{ingest_paths, Options};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{MemberStore, Store};

const FILES: usize = 300;
const LINES: usize = 100;

fn name(file: usize, line: usize) -> String {
    format!("h{line}.f{file}.shared-writer.example")
}

/// Whether `value` is committed (a reader sees only committed rows).
fn stored(store: &SqliteStore, value: &str) -> bool {
    store.resolve(value).is_ok_and(|v| !v.is_empty())
}

#[test]
fn a_waiting_write_gets_in_between_files_of_a_group() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = tempfile::tempdir()?;
    let mut paths = Vec::new();
    for i in 0..FILES {
        let text: String = (0..LINES).map(|j| name(i, j) + "\n").collect();
        let p = input.path().join(format!("f{i:04}.txt"));
        std::fs::write(&p, text)?;
        paths.push(p.display().to_string());
    }
    // 300 files of 100 names are 60,300 objects: one group, unless a write asks for the writer.
    let store = SqliteStore::open(dir.path())?;
    // The API's own handle on the same store, as `vigil serve` opens one for its API and one for its feed
    // scheduler: the two share the process's one writer connection.
    let api_store = SqliteStore::open(dir.path())?;
    let done = AtomicBool::new(false);
    let (first, last) = (name(0, 0), name(FILES - 1, LINES - 1));
    let mut seen_between = 0usize;
    let mut writes = 0usize;
    let mut slowest = Duration::ZERO;
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        let api = s.spawn(
            || -> Result<(usize, usize, Duration), vigil_store::StoreError> {
                let (mut between, mut n, mut longest) = (0, 0, Duration::ZERO);
                while !done.load(Ordering::Relaxed) {
                    // An API call's write (the server audits administrative actions this way).
                    let t = std::time::Instant::now();
                    api_store.audit("api-test", "write", &format!("call {n}"), "")?;
                    longest = longest.max(t.elapsed());
                    n += 1;
                    // Right after the write: part of the run committed, the rest not yet.
                    if stored(&api_store, &first) && !stored(&api_store, &last) {
                        between += 1;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok((between, n, longest))
            },
        );
        let r = ingest_paths(&store, &paths, &Options::default(), &mut |_| {});
        done.store(true, Ordering::Relaxed);
        let (between, n, longest) = api.join().map_err(|_| "api thread panicked")??;
        let r = r?;
        assert_eq!(r.files as usize, FILES);
        // An indicator and its relationship per name, and the family each file is named after.
        assert_eq!(r.added as usize, FILES * (2 * LINES + 1), "{r:?}");
        (seen_between, writes, slowest) = (between, n, longest);
        Ok(())
    })?;
    assert!(writes > 0);
    assert!(
        seen_between > 0,
        "no write got in while the run was under way ({writes} writes)"
    );
    assert!(stored(&store, &last));
    eprintln!(
        "{seen_between} of {writes} writes got in while the run was under way; the longest waited {slowest:?}"
    );
    Ok(())
}
