//! The service's SQLite database: an in-memory table of orders, one copy per worker thread.
//!
//! The queries are read-only, so each thread opens its own in-memory database on first use
//! and seeds it identically; no connection is shared and no lock is taken.

use rusqlite::Connection;
use std::cell::RefCell;

/// Orders in the seeded table.
pub const ORDERS: i64 = 20_000;
/// Distinct users owning them.
pub const USERS: i64 = 200;

thread_local! {
    static CONN: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Opens an in-memory database holding [`ORDERS`] orders of [`USERS`] users.
pub fn open() -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
                              amount_cents INTEGER NOT NULL, item TEXT NOT NULL);
         CREATE INDEX orders_user ON orders(user_id);",
    )?;
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO orders (id, user_id, amount_cents, item) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for id in 0..ORDERS {
            let amount = (id * 7919) % 10_000;
            insert.execute((id, id % USERS, amount, format!("item-{}", id % 97)))?;
        }
    }
    tx.commit()?;
    Ok(conn)
}

/// Runs `f` with this thread's connection, opening it first if needed.
pub fn with_conn<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(open()?);
        }
        f(slot.as_ref().expect("connection opened above"))
    })
}

/// The amount of order `id` (a primary-key lookup).
pub fn order_amount(id: i64) -> rusqlite::Result<i64> {
    with_conn(|c| {
        c.prepare("SELECT amount_cents FROM orders WHERE id = ?1")?
            .query_row([id.rem_euclid(ORDERS)], |r| r.get(0))
    })
}

/// Total spent by `user` (an indexed range scan and an aggregate).
pub fn user_total(user: i64) -> rusqlite::Result<i64> {
    with_conn(|c| {
        c.prepare("SELECT COALESCE(SUM(amount_cents), 0) FROM orders WHERE user_id = ?1")?
            .query_row([user.rem_euclid(USERS)], |r| r.get(0))
    })
}

/// The item most often bought by users in `[first, first + 10)` (a grouped aggregate).
pub fn top_item(first: i64) -> rusqlite::Result<String> {
    with_conn(|c| {
        c.prepare(
            "SELECT item FROM orders WHERE user_id >= ?1 AND user_id < ?1 + 10
             GROUP BY item ORDER BY COUNT(*) DESC, item LIMIT 1",
        )?
        .query_row([first.rem_euclid(USERS)], |r| r.get(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_answer_from_the_seeded_table() {
        assert_eq!(order_amount(1).unwrap(), 7919);
        assert!(user_total(3).unwrap() > 0);
        assert!(top_item(0).unwrap().starts_with("item-"));
    }
}
