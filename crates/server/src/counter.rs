//! One reading of the store's change counter per read-only request. Every cache a request consults (tokens,
//! TAXII pages, detection exports) keys on the counter; reading it once per request, not once per cache, saves a
//! database round trip per cache on PostgreSQL, where each reading is one, and gives the request one consistent
//! view. Only `GET` and `HEAD` requests keep a reading ([`scoped`]): a request that writes reads afresh after its
//! own write. Outside a scope (another method, a blocking thread, a test) every call reads the store.

use std::cell::Cell;
use std::future::Future;

use vigil_store::{ServerStore, StoreError};

tokio::task_local! {
    static READING: Cell<Option<i64>>;
}

/// Runs `f` (a request's handling) with room for one reading of the counter.
pub async fn scoped<F: Future>(f: F) -> F::Output {
    READING.scope(Cell::new(None), f).await
}

/// The store's change counter: this request's reading when it has one, else read now (and kept, in a scope).
pub fn change_counter(store: &dyn ServerStore) -> Result<i64, StoreError> {
    if let Ok(Some(n)) = READING.try_with(Cell::get) {
        return Ok(n);
    }
    let n = store.change_counter()?;
    let _ = READING.try_with(|c| c.set(Some(n)));
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::sqlite::SqliteStore;
    use vigil_store::MemberStore;

    #[tokio::test]
    async fn one_reading_per_scope_and_a_fresh_one_outside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("store");
        let before = store.change_counter().expect("counter");
        let write = |n: &str| store.add_member(n, "AT", "agency", false).expect("a write");
        let (inside, after_write_inside) = scoped(async {
            let first = change_counter(&store).expect("counter");
            write("A");
            (first, change_counter(&store).expect("counter"))
        })
        .await;
        assert_eq!(inside, before);
        assert_eq!(after_write_inside, before, "a scope keeps its one reading");
        let outside = change_counter(&store).expect("counter");
        assert_ne!(outside, before, "outside a scope the store is read");
        write("B");
        assert_ne!(change_counter(&store).expect("counter"), outside);
    }
}
