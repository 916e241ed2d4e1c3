//! A manager's list of records: one child inserts a record, another prints
//! them all (seed 002, "Solution 2: Server process").
//!
//! ```python
//! with multiprocessing.Manager() as manager:
//!     records = manager.list([('Sam', 10), ('Adam', 9), ('Kevin',9)])
//!     new_record = ('Jeff', 8)
//!     p1 = multiprocessing.Process(target=insert_record, args=(new_record, records))
//!     p2 = multiprocessing.Process(target=print_records, args=(records,))
//! ```
//!
//! A proxy passed to a child is a handle to the same list in the server
//! process; the child's `append` is seen by everyone.

use mp_manager::{ListProxy, Manager};
use mp_process::Process;

type Record = (String, u32);

fn print_records(records: ListProxy<Record>) {
    for (name, score) in records.to_vec().expect("read the records") {
        println!("Name: {name}\nScore: {score}\n");
    }
}

fn insert_record(record: Record, records: ListProxy<Record>) {
    records.append(&record).expect("append the record");
    println!("New record added!\n");
}

/// Runs the program.
pub fn main() -> crate::Result {
    let manager = Manager::start()?;
    let records = manager.list_from([
        ("Sam".to_string(), 10),
        ("Adam".to_string(), 9),
        ("Kevin".to_string(), 9),
    ])?;
    let new_record = ("Jeff".to_string(), 8);

    let mut p1 = Process::new(insert_record, (new_record, records.clone()));
    let mut p2 = Process::new(print_records, (records.clone(),));

    p1.start()?;
    p1.join()?;

    p2.start()?;
    p2.join()?;
    Ok(())
}
