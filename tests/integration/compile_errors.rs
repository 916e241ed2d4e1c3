//! The mistakes a porter makes first are compile errors whose messages say
//! what to do; the cases in tests/ui pin those messages (the `.stderr`
//! beside each case). After a change of wording, or of the toolchain:
//! `TRYBUILD=overwrite cargo test -p mp --test integration compile_errors`
//! and review the diff.

use std::time::Duration;

#[test]
fn mistakes_are_compile_errors_that_say_what_to_do() {
    // The first run builds mp and its dependencies in a project of its own.
    let _d = mp_testkit::deadline(Duration::from_secs(1200));
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
