//! A list held by a manager's server process, appended to by one child and
//! printed by another (seed 000, "3. Mutli-processing through Server
//! Process").
//!
//! ```python
//! with multiprocessing.Manager() as manager:
//!     records = manager.list([("cool",21),("real",23)])
//!     new_rec = ("chow",45)
//!     p1 = multiprocessing.Process(target=insert_record, args=(new_rec, records))
//!     p2 = multiprocessing.Process(target=print_records, args=(records,))
//! ```
//!
//! `manager.list(seq)` is `manager.list_from(seq)`, a typed
//! `ListProxy<(String, u32)>`; iterating a proxy is `to_vec()` (one round
//! trip, an owned copy). The manager shuts down when `manager` is dropped,
//! like the end of the `with` block.

use mp_manager::{ListProxy, Manager};
use mp_process::Process;

type Record = (String, u32);

fn print_records(records: ListProxy<Record>) {
    for (name, score) in records.to_vec().expect("read the records") {
        println!("name : {name}, score : {score}");
    }
}

fn insert_record(record: Record, records: ListProxy<Record>) {
    records.append(&record).expect("append the record");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let manager = Manager::start()?;

    let records = manager.list_from([("cool".to_string(), 21), ("real".to_string(), 23)])?;
    let new_rec = ("chow".to_string(), 45);

    let mut p1 = Process::new(insert_record, (new_rec, records.clone()));
    let mut p2 = Process::new(print_records, (records.clone(),));

    p1.start()?;
    p1.join()?;

    p2.start()?;
    p2.join()?;
    Ok(())
}
