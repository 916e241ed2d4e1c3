//! W3: queue throughput, one producer process to one consumer process, for
//! u64, 1 KiB and 1 MiB items, beside a raw pipe (batched writes),
//! ipc-channel, and `std::sync::mpsc` between two threads (the in-process
//! floor). Producers run flat out; a sample times the consumer taking N items.
//! The floors hold what mp's ring holds: the raw pipe's socket buffers are
//! the ring's size, and the mpsc channel is bounded at as many items as
//! the ring fits (a `u64` case sends `u64`s).
//! Byte items are `serde_bytes::ByteBuf` (Python's `bytes`: one copy, where
//! serde would send a plain `Vec<u8>` byte by byte).
//!
//! Also a ping-pong through two queues to an echoing child, free and with
//! both processes pinned to one CPU (where a waiter that spun before it
//! slept would hold up the peer it waits for), and free with the reply
//! awaited (`get_async`) on tokio's current-thread runtime.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

mod pinning;
mod report_files;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ipc_channel::ipc::{IpcBytesReceiver, IpcOneShotServer, IpcReceiver, IpcSender};
use mp::handle::Fd;
use mp::process::Process;
use mp::queue::{Queue, QueueBuilder};
use pinning::{pin, unpin};
use serde_bytes::ByteBuf;

/// The item of a case: a u64, or a byte vector of `size` bytes.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    size: usize,
}

const CASES: [Case; 3] = [
    Case {
        name: "u64",
        size: 8,
    },
    Case {
        name: "1KiB",
        size: 1024,
    },
    Case {
        name: "1MiB",
        size: 1 << 20,
    },
];

fn mp_produce_u64(q: Queue<u64>) {
    let mut i = 0u64;
    while q.put(&i).is_ok() {
        i += 1;
    }
}

fn mp_produce_bytes(q: Queue<ByteBuf>, size: usize) {
    let item = ByteBuf::from(vec![7u8; size]);
    while q.put(&item).is_ok() {}
}

/// The ring of mp's queue in a case of `size`-byte items: 16 items, at
/// least 16 MiB.
fn ring_size(size: usize) -> usize {
    (16 * size).max(16 << 20)
}

/// How many items of `size` bytes a ring of `ring` bytes holds: mp-queue
/// stores each as a chunk of a 16-byte header and the serialized item
/// (postcard: a `u64` counter in at most 8 bytes, a byte string with a
/// length prefix of at most 3 bytes below 2 MiB), padded to 8 bytes.
fn ring_items(ring: usize, size: usize, is_u64: bool) -> usize {
    let serialized = if is_u64 { 8 } else { size + 3 };
    ring / ((16 + serialized + 7) & !7)
}

/// Gives `ours` and `theirs` socket buffers of `bytes` (forced past
/// `net.core.[rw]mem_max` when allowed, as root), so the raw pipe holds as
/// much in flight as mp's ring; says on stderr what the kernel granted.
fn size_socket_buffers(ours: &UnixStream, theirs: &UnixStream, bytes: usize) {
    use rustix::net::sockopt;
    for sock in [ours, theirs] {
        if sockopt::set_socket_send_buffer_size_force(sock, bytes).is_err() {
            let _ = sockopt::set_socket_send_buffer_size(sock, bytes);
        }
        if sockopt::set_socket_recv_buffer_size_force(sock, bytes).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(sock, bytes);
        }
    }
    let granted = sockopt::socket_send_buffer_size(theirs).unwrap_or(0);
    eprintln!(
        "raw_pipe: asked for {} KiB socket buffers, the producer's send buffer is {} KiB \
         (the kernel doubles what it grants, for its bookkeeping)",
        bytes >> 10,
        granted >> 10
    );
}

fn raw_produce(fd: Fd, size: usize) {
    let mut out = BufWriter::with_capacity(1 << 16, UnixStream::from(fd.into_owned()));
    let item = vec![7u8; size];
    while out.write_all(&item).is_ok() {}
}

fn ipc_produce(server: String, size: usize) {
    let (tx, rx) = ipc_channel::ipc::bytes_channel().unwrap();
    IpcSender::<IpcBytesReceiver>::connect(server)
        .unwrap()
        .send(rx)
        .unwrap();
    let item = vec![7u8; size];
    while tx.send(&item).is_ok() {}
}

fn ipc_produce_u64(server: String) {
    let (tx, rx) = ipc_channel::ipc::channel::<u64>().unwrap();
    IpcSender::<IpcReceiver<u64>>::connect(server)
        .unwrap()
        .send(rx)
        .unwrap();
    let mut i = 0u64;
    while tx.send(i).is_ok() {
        i += 1;
    }
}

/// Times `n` calls of `take` (a consumer taking one item): one sample.
fn takes(n: u64, mut take: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        take();
    }
    start.elapsed()
}

fn started(p: Process) -> Process {
    let mut p = p;
    p.start().unwrap();
    p
}

fn stop(p: Process) {
    p.kill().unwrap();
    p.join().unwrap();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue/throughput");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for case in CASES {
        group.throughput(Throughput::Bytes(case.size as u64));

        // mp: a queue whose ring holds 16 items of the case (at least 16 MiB).
        let ring = ring_size(case.size);
        if case.size == 8 {
            let q: Queue<u64> = QueueBuilder::new().ring_size(ring).build().unwrap();
            let p = started(Process::new(mp_produce_u64, (q.clone(),)));
            group.bench_function(BenchmarkId::new("mp_queue", case.name), |b| {
                b.iter_custom(|n| {
                    takes(n, || {
                        q.get().unwrap();
                    })
                })
            });
            stop(p);
        } else {
            let q: Queue<ByteBuf> = QueueBuilder::new().ring_size(ring).build().unwrap();
            let p = started(Process::new(mp_produce_bytes, (q.clone(), case.size)));
            group.bench_function(BenchmarkId::new("mp_queue", case.name), |b| {
                b.iter_custom(|n| {
                    takes(n, || {
                        assert_eq!(q.get().unwrap().len(), case.size);
                    })
                })
            });
            stop(p);
        }

        // A raw pipe (socketpair) with buffered writes and reads and socket
        // buffers of the ring's size: the floor for a byte stream between
        // two processes.
        let (ours, theirs) = UnixStream::pair().unwrap();
        size_socket_buffers(&ours, &theirs, ring);
        let p = started(Process::new(
            raw_produce,
            (Fd::from(OwnedFd::from(theirs)), case.size),
        ));
        let mut input = BufReader::with_capacity(1 << 16, ours);
        let mut buf = vec![0u8; case.size];
        group.bench_function(BenchmarkId::new("raw_pipe", case.name), |b| {
            b.iter_custom(|n| {
                takes(n, || {
                    input.read_exact(&mut buf).unwrap();
                })
            })
        });
        stop(p);

        // ipc-channel, the crate Rust programs usually reach for.
        if case.size == 8 {
            let (server, name) = IpcOneShotServer::<IpcReceiver<u64>>::new().unwrap();
            let p = started(Process::new(ipc_produce_u64, (name,)));
            let (_, rx) = server.accept().unwrap();
            group.bench_function(BenchmarkId::new("ipc_channel", case.name), |b| {
                b.iter_custom(|n| {
                    takes(n, || {
                        rx.recv().unwrap();
                    })
                })
            });
            stop(p);
        } else {
            let (server, name) = IpcOneShotServer::<IpcBytesReceiver>::new().unwrap();
            let p = started(Process::new(ipc_produce, (name, case.size)));
            let (_, rx) = server.accept().unwrap();
            group.bench_function(BenchmarkId::new("ipc_channel", case.name), |b| {
                b.iter_custom(|n| {
                    takes(n, || {
                        assert_eq!(rx.recv().unwrap().len(), case.size);
                    })
                })
            });
            stop(p);
        }

        // std::sync::mpsc between two threads: what no process boundary
        // costs, bounded at as many items as mp's ring holds.
        let bound = ring_items(ring, case.size, case.size == 8);
        if case.size == 8 {
            let mut i = 0u64;
            mpsc_floor(&mut group, case, bound, move || {
                i += 1;
                i
            });
        } else {
            let item = vec![7u8; case.size];
            mpsc_floor(&mut group, case, bound, move || item.clone());
        }
    }
    group.finish();
}

/// Times the consumer of an mpsc channel bounded at `bound` items, fed
/// flat out with `next()` by a producer thread.
fn mpsc_floor<T: Send + 'static>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    case: Case,
    bound: usize,
    mut next: impl FnMut() -> T + Send + 'static,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<T>(bound);
    let producer = std::thread::spawn(move || while tx.send(next()).is_ok() {});
    group.bench_function(BenchmarkId::new("std_mpsc_threads", case.name), |b| {
        b.iter_custom(|n| {
            takes(n, || {
                rx.recv().unwrap();
            })
        })
    });
    drop(rx);
    producer.join().unwrap();
}

fn echo(requests: Queue<u64>, replies: Queue<u64>) {
    while let Ok(v) = requests.get() {
        if replies.put(&v).is_err() {
            break;
        }
    }
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue/ping_pong");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for one_cpu in [false, true] {
        let requests: Queue<u64> = Queue::new().unwrap();
        let replies: Queue<u64> = Queue::new().unwrap();
        let p = started(Process::new(echo, (requests.clone(), replies.clone())));
        let cpu = rustix::thread::sched_getcpu();
        let before = one_cpu.then(|| {
            pin(Some(p.pid().expect("a started child has a pid")), cpu);
            pin(None, cpu)
        });
        let name = if one_cpu { "u64_one_cpu" } else { "u64" };
        group.bench_function(name, |b| {
            b.iter(|| {
                requests.put(&42).unwrap();
                replies.get().unwrap()
            })
        });
        if let Some(before) = before {
            unpin(&before);
        }
        stop(p);
    }
    awaited_ping_pong(&mut group);
    group.finish();
}

/// The `u64` ping-pong with the reply awaited (`get_async`) on tokio's
/// current-thread runtime: what an async service pays per item.
fn awaited_ping_pong(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let requests: Queue<u64> = Queue::new().unwrap();
    let replies: Queue<u64> = Queue::new().unwrap();
    let p = started(Process::new(echo, (requests.clone(), replies.clone())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    group.bench_function("u64_awaited_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                requests.put(&42).unwrap();
                replies.get_async().await.unwrap()
            })
        })
    });
    stop(p);
}

criterion_group!(benches, throughput, ping_pong);

fn main() {
    report_files::main(benches);
}
