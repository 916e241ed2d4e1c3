//! `set_executable`: children started from another path of this program.

use std::path::PathBuf;

use super::*;

fn own_binary() -> PathBuf {
    std::env::current_exe().unwrap()
}

/// In a process of its own (the setting is process-wide, and its
/// forkserver must start after it): children of a copy of this binary.
fn children_of_a_copy(copy: PathBuf) -> Vec<(StartMethod, PathBuf)> {
    mp_process::set_executable(&copy).unwrap();
    [StartMethod::Spawn, StartMethod::Forkserver]
        .into_iter()
        .map(|m| {
            (
                m,
                Context::new(m)
                    .spawn(own_binary, ())
                    .unwrap()
                    .join()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn children_start_from_the_executable_set() {
    let _d = deadline(60 * SECS);
    let copy = std::env::temp_dir().join(format!("mp-worker-copy-{}", std::process::id()));
    std::fs::copy(own_binary(), &copy).unwrap();
    let seen = Context::new(StartMethod::Spawn)
        .spawn(children_of_a_copy, (copy.clone(),))
        .unwrap()
        .join();
    std::fs::remove_file(&copy).unwrap();
    for (m, binary) in seen.unwrap() {
        assert_eq!(binary, copy, "{m}");
    }
}

#[test]
fn another_program_is_refused_with_a_clear_error() {
    let _d = deadline(30 * SECS);
    let not_elf = std::env::temp_dir().join(format!("mp-not-a-worker-{}", std::process::id()));
    std::fs::write(&not_elf, "#!/bin/sh\nexec cat\n").unwrap();
    rustix::fs::chmod(&not_elf, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
    let refused = [
        ("/bin/true".into(), "not this program: its build id is"),
        (not_elf.clone(), "not this program"),
        ("/no/such/binary".into(), "No such file"),
    ];
    for (path, why) in refused {
        let e = mp_process::set_executable(&path).unwrap_err();
        assert!(
            matches!(&e, Error::Executable { path: p, .. } if *p == path),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains(why), "{}: {text}", path.display());
    }
    std::fs::remove_file(&not_elf).unwrap();
    // Refused settings change nothing: children still start.
    assert_eq!(
        started(Process::new(returns, ()).start_method(StartMethod::Spawn))
            .join_timeout(T)
            .unwrap(),
        Some(0)
    );
}
