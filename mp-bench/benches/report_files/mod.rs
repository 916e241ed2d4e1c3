//! What the benches write beside criterion's results for bench_report: the
//! stamps that say which run each result belongs to, and side files
//! (measurements criterion does not take: a floor timed between a bench's
//! own samples, hand-off counts, memory). The files and the runs are
//! `mp_testkit::BenchFiles`'s, shared with mp-redis's and mp-python's
//! benches, whose results bench_report shows on the same page.

use std::path::Path;

use mp_testkit::BenchFiles;

/// Writes `contents` to `path` under criterion's directory (creating the
/// folders on the way).
pub(crate) fn write(path: impl AsRef<Path>, contents: &str) {
    BenchFiles::from_env().write(path, contents);
}

/// A bench binary's `main`: runs `benches` (its criterion groups) and
/// criterion's closing summary between the two stamps of this run.
pub(crate) fn main(benches: fn()) {
    BenchFiles::from_env().stamped(env!("CARGO_CRATE_NAME"), || {
        benches();
        criterion::Criterion::default()
            .configure_from_args()
            .final_summary();
    });
}
