//! W2: a round trip to a child process over a pipe, beside the floor (a raw
//! socketpair with one `write` and one `read` each way) and ipc-channel;
//! and the same two with both processes pinned to one CPU, where a wait
//! that spun before sleeping would hold up the peer it waits for.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

mod common;

use common::{pin, unpin};
use criterion::{Criterion, criterion_group, criterion_main};
use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use mp::pipe::{Connection, pipe};
use mp::process::Process;

fn echo_values(conn: Connection) {
    while let Ok(v) = conn.recv::<u64>() {
        conn.send(&v).unwrap();
    }
}

fn echo_bytes(conn: Connection) {
    let mut buf = [0u8; 64];
    while let Ok(n) = conn.recv_bytes_into(&mut buf) {
        conn.send_bytes(&buf[..n]).unwrap();
    }
}

fn echo_raw(fd: mp::handle::Fd, size: usize) {
    let mut stream = UnixStream::from(fd.into_owned());
    let mut buf = vec![0u8; size];
    while stream.read_exact(&mut buf).is_ok() {
        stream.write_all(&buf).unwrap();
    }
}

/// Echoes over ipc-channel: the child makes both channels and hands the
/// parent its ends through the one-shot server.
fn echo_ipc(server: String) {
    let (to_child, from_parent) = ipc_channel::ipc::channel::<u64>().unwrap();
    let (to_parent, from_child) = ipc_channel::ipc::channel::<u64>().unwrap();
    IpcSender::<(IpcSender<u64>, IpcReceiver<u64>)>::connect(server)
        .unwrap()
        .send((to_child, from_child))
        .unwrap();
    while let Ok(v) = from_parent.recv() {
        if to_parent.send(v).is_err() {
            break;
        }
    }
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Benches a round trip of `size` bytes over a raw socketpair to a child
/// that echoes them (pinned to `cpu`, if given).
fn raw_roundtrip(group: &mut Group<'_>, size: usize, cpu: Option<usize>) {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let theirs = mp::handle::Fd::from(std::os::fd::OwnedFd::from(theirs));
    let mut child = Process::new(echo_raw, (theirs, size));
    child.start().unwrap();
    if let Some(cpu) = cpu {
        pin(Some(child.pid().expect("a started child has a pid")), cpu);
    }
    let mut buf = vec![7u8; size];
    group.bench_function(format!("raw_socketpair_{size}B"), |b| {
        b.iter(|| {
            ours.write_all(&buf).unwrap();
            ours.read_exact(&mut buf).unwrap();
        })
    });
    drop(ours);
    child.join().unwrap();
}

/// Benches a `u64` round trip over an mp pipe to a child that echoes it
/// (pinned to `cpu`, if given).
fn values_roundtrip(group: &mut Group<'_>, cpu: Option<usize>) {
    let (ours, theirs) = pipe().unwrap();
    let mut child = Process::new(echo_values, (theirs,));
    child.start().unwrap();
    if let Some(cpu) = cpu {
        pin(Some(child.pid().expect("a started child has a pid")), cpu);
    }
    group.bench_function("u64", |b| {
        b.iter(|| {
            ours.send(&42u64).unwrap();
            ours.recv::<u64>().unwrap()
        })
    });
    drop(ours);
    child.join().unwrap();
}

fn roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipe/roundtrip");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));

    for size in [8usize, 64] {
        raw_roundtrip(&mut group, size, None);
    }
    values_roundtrip(&mut group, None);

    let (ours, theirs) = pipe().unwrap();
    let mut child = Process::new(echo_bytes, (theirs,));
    child.start().unwrap();
    let payload = [5u8; 64];
    let mut back = [0u8; 64];
    group.bench_function("bytes64", |b| {
        b.iter(|| {
            ours.send_bytes(&payload).unwrap();
            ours.recv_bytes_into(&mut back).unwrap()
        })
    });
    drop(ours);
    child.join().unwrap();

    let (server, name) = IpcOneShotServer::<(IpcSender<u64>, IpcReceiver<u64>)>::new().unwrap();
    let mut child = Process::new(echo_ipc, (name,));
    child.start().unwrap();
    let (_, (to_child, from_child)) = server.accept().unwrap();
    group.bench_function("ipc_channel", |b| {
        b.iter(|| {
            to_child.send(42).unwrap();
            from_child.recv().unwrap()
        })
    });
    drop(to_child);
    child.kill().unwrap();
    child.join().unwrap();
    group.finish();
}

fn one_cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipe/one_cpu");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    let cpu = rustix::thread::sched_getcpu();
    let before = pin(None, cpu);

    raw_roundtrip(&mut group, 8, Some(cpu));
    values_roundtrip(&mut group, Some(cpu));
    group.finish();
    unpin(&before);
}

criterion_group!(benches, roundtrip, one_cpu);
criterion_main!(benches);
