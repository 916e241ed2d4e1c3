//! W3: queue throughput, one producer process to one consumer process, for
//! u64, 1 KiB and 1 MiB items, beside a raw pipe (batched writes),
//! ipc-channel, and `std::sync::mpsc` between two threads (the in-process
//! floor). Producers run flat out; a sample times the consumer taking N items.
//! Byte items are `serde_bytes::ByteBuf` (Python's `bytes`: one copy, where
//! serde would send a plain `Vec<u8>` byte by byte).
//!
//! Also a ping-pong through two queues to an echoing child, free and with
//! both processes pinned to one CPU (where a waiter that spun before it
//! slept would hold up the peer it waits for).

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

mod common;

use common::{pin, unpin};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipc_channel::ipc::{IpcBytesReceiver, IpcOneShotServer, IpcReceiver, IpcSender};
use mp::handle::Fd;
use mp::process::Process;
use mp::queue::{Queue, QueueBuilder};
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
        let ring = (16 * case.size).max(16 << 20);
        if case.size == 8 {
            let q: Queue<u64> = QueueBuilder::new().ring_size(ring).build().unwrap();
            let p = started(Process::new(mp_produce_u64, (q.clone(),)));
            group.bench_function(BenchmarkId::new("mp_queue", case.name), |b| {
                b.iter_custom(|n| {
                    let start = Instant::now();
                    for _ in 0..n {
                        q.get().unwrap();
                    }
                    start.elapsed()
                })
            });
            stop(p);
        } else {
            let q: Queue<ByteBuf> = QueueBuilder::new().ring_size(ring).build().unwrap();
            let p = started(Process::new(mp_produce_bytes, (q.clone(), case.size)));
            group.bench_function(BenchmarkId::new("mp_queue", case.name), |b| {
                b.iter_custom(|n| {
                    let start = Instant::now();
                    for _ in 0..n {
                        assert_eq!(q.get().unwrap().len(), case.size);
                    }
                    start.elapsed()
                })
            });
            stop(p);
        }

        // A raw pipe (socketpair) with buffered writes and reads: the floor
        // for a byte stream between two processes.
        let (ours, theirs) = UnixStream::pair().unwrap();
        let p = started(Process::new(
            raw_produce,
            (Fd::from(OwnedFd::from(theirs)), case.size),
        ));
        let mut input = BufReader::with_capacity(1 << 16, ours);
        let mut buf = vec![0u8; case.size];
        group.bench_function(BenchmarkId::new("raw_pipe", case.name), |b| {
            b.iter_custom(|n| {
                let start = Instant::now();
                for _ in 0..n {
                    input.read_exact(&mut buf).unwrap();
                }
                start.elapsed()
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
                    let start = Instant::now();
                    for _ in 0..n {
                        rx.recv().unwrap();
                    }
                    start.elapsed()
                })
            });
            stop(p);
        } else {
            let (server, name) = IpcOneShotServer::<IpcBytesReceiver>::new().unwrap();
            let p = started(Process::new(ipc_produce, (name, case.size)));
            let (_, rx) = server.accept().unwrap();
            group.bench_function(BenchmarkId::new("ipc_channel", case.name), |b| {
                b.iter_custom(|n| {
                    let start = Instant::now();
                    for _ in 0..n {
                        assert_eq!(rx.recv().unwrap().len(), case.size);
                    }
                    start.elapsed()
                })
            });
            stop(p);
        }

        // std::sync::mpsc between two threads: what no process boundary costs.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let producer = std::thread::spawn(move || {
            let item = vec![7u8; case.size];
            while tx.send(item.clone()).is_ok() {}
        });
        group.bench_function(BenchmarkId::new("std_mpsc_threads", case.name), |b| {
            b.iter_custom(|n| {
                let start = Instant::now();
                for _ in 0..n {
                    rx.recv().unwrap();
                }
                start.elapsed()
            })
        });
        drop(rx);
        producer.join().unwrap();
    }
    group.finish();
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
    group.finish();
}

criterion_group!(benches, throughput, ping_pong);
criterion_main!(benches);
