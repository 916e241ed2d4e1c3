//! What a re-executed child reads on stdin.

use super::*;
use std::io::Read;

fn read_stdin() -> usize {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).unwrap();
    buf.len()
}

#[test]
fn a_re_executed_child_reads_end_of_file_on_stdin() {
    let _d = deadline(30 * SECS);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        assert_eq!(
            Context::new(m)
                .spawn(read_stdin, ())
                .unwrap()
                .join()
                .unwrap(),
            0,
            "{m}"
        );
    }
}
