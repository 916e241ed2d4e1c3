//! The descriptors a child starts with (CPython's `test_close_fds`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::*;

/// `(device, inode)` of an open descriptor.
fn file_id(fd: BorrowedFd<'_>) -> (u64, u64) {
    let st = rustix::fs::fstat(fd).unwrap();
    (st.st_dev, st.st_ino)
}

/// Whether descriptor `fd` is open here on the file `id`.
fn holds(fd: i32, id: (u64, u64)) -> bool {
    #![allow(unsafe_code)]
    // SAFETY: the descriptor is only looked at while this function runs,
    // and fstat on a closed one fails without effect.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::fs::fstat(fd).is_ok_and(|st| (st.st_dev, st.st_ino) == id)
}

fn reports_holding(fd: i32, id: (u64, u64)) -> bool {
    holds(fd, id)
}

/// In a process of its own (so its forkserver is started after the
/// descriptor exists): a file opened without close-on-exec, then a child
/// of each method is asked whether it has it.
fn leak_check() -> Vec<(StartMethod, bool)> {
    let file = tempfile_without_cloexec();
    let id = file_id(file.as_fd());
    let fd = file.as_raw_fd();
    assert!(holds(fd, id));
    methods()
        .into_iter()
        .map(|m| {
            let inherited = Context::new(m)
                .spawn(reports_holding, (fd, id))
                .unwrap()
                .join()
                .unwrap();
            (m, inherited)
        })
        .collect()
}

fn tempfile_without_cloexec() -> std::fs::File {
    let path = std::env::temp_dir().join(format!("mp-leak-check-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()).unwrap();
    file
}

#[test]
fn spawn_and_forkserver_children_get_only_the_descriptors_mp_passes() {
    let _d = deadline(60 * SECS);
    let seen = Context::new(StartMethod::Spawn)
        .spawn(leak_check, ())
        .unwrap()
        .join()
        .unwrap();
    for (m, inherited) in seen {
        // Under Fork, inheritance is CPython's documented behaviour.
        assert_eq!(inherited, m == StartMethod::Fork, "{m}");
    }
}

/// This process's open descriptors, each with what it is.
fn open_descriptors() -> Vec<(i32, String)> {
    let listing: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    listing
        .into_iter()
        .filter_map(|fd| {
            let what = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, what.display().to_string()))
        })
        .collect()
}

#[test]
fn a_spawn_or_forkserver_child_holds_stdio_and_its_result_channel_only() {
    let _d = deadline(30 * SECS);
    for m in [StartMethod::Spawn, StartMethod::Forkserver] {
        let fds = Context::new(m)
            .spawn(open_descriptors, ())
            .unwrap()
            .join()
            .unwrap();
        let numbers: Vec<i32> = fds.iter().map(|(fd, _)| *fd).collect();
        assert_eq!(&numbers[..3], [0, 1, 2], "{m}: {fds:?}");
        // Beyond stdio: the JoinHandle's result channel, nothing else.
        assert_eq!(fds.len(), 4, "{m}: {fds:?}");
        assert!(fds[3].1.starts_with("socket:"), "{m}: {fds:?}");
    }
}
