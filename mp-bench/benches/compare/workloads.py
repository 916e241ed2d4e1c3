#!/usr/bin/env python3
"""CPython's multiprocessing on workloads W1-W7 of mp's SPEC, measured the
way mp's criterion benches measure them (same cases, same shapes), so the
two can sit side by side in BENCHMARKS.md.

    python3 mp-bench/benches/compare/workloads.py [--quick] [--only W1,W3,MEM] [--out FILE]

Prints (or writes) JSON: {"python": ..., "results": {key: {...}}} where
every result has "median_ns", the median time of one operation (one
start+join, one round trip, one item taken off a queue, one increment, one
pool task, one manager call, one create+attach+close+unlink). A speedup
result has "ratio" instead, a memory result (MEM) "pss_bytes": the mean
proportional set size of the idle processes measured. Keys are listed in KEYS below; mp's
bench_report maps them to criterion ids.

Only the standard library is used.
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import time
from multiprocessing import shared_memory

KEYS = """
process/start_join/fork process/start_join/forkserver process/start_join/spawn
pipe/roundtrip/u64 pipe/roundtrip/bytes64
queue/throughput/u64 queue/throughput/1KiB queue/throughput/1MiB
shm/value_lock_increment/2_processes
pool/map/100k_default_chunks pool/map/10k_chunksize_1 pool/apply/roundtrip pool/cpu_bound_speedup
manager/pipe_roundtrip manager/list_append manager/dict_set manager/value_get
shm/create_attach_unlink_1MiB
memory/pss/pool_worker_idle/fork memory/pss/pool_worker_idle/forkserver
memory/pss/pool_worker_idle/spawn memory/pss/manager_server/forkserver memory/pss/forkserver
""".split()

QUICK = False


def scale(n):
    """Fewer repetitions under --quick (a smoke test of the script)."""
    return max(1, n // 10) if QUICK else n


def batches(op, per_batch, n_batches, warmup=1):
    """Median time of one `op()` call, from `n_batches` timed batches of
    `per_batch` calls each (after `warmup` untimed batches)."""
    per_batch = scale(per_batch)
    n_batches = 3 if QUICK else n_batches
    for _ in range(warmup):
        for _ in range(per_batch):
            op()
    samples = []
    for _ in range(n_batches):
        t = time.perf_counter_ns()
        for _ in range(per_batch):
            op()
        samples.append((time.perf_counter_ns() - t) / per_batch)
    return {"median_ns": statistics.median(samples), "samples": len(samples), "per_sample": per_batch}


# ---------------------------------------------------------------- W1


def trivial():
    pass


def w1(results):
    for method in ("fork", "forkserver", "spawn"):
        if method not in mp.get_all_start_methods():
            continue
        ctx = mp.get_context(method)
        n = {"fork": 50, "forkserver": 30, "spawn": 10}[method]

        def start_join():
            p = ctx.Process(target=trivial)
            p.start()
            p.join()
            assert p.exitcode == 0

        results[f"process/start_join/{method}"] = batches(start_join, 1, n, warmup=2)


# ---------------------------------------------------------------- W2


def echo_objects(conn, parent_end):
    # A forked child holds a copy of the parent's end too: close it, or the
    # parent's close never reaches this end as EOF (CPython's fork EOF hang).
    parent_end.close()
    try:
        while True:
            conn.send(conn.recv())
    except EOFError:
        pass


def echo_bytes(conn, parent_end):
    parent_end.close()
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def pipe_roundtrip(results, key, target, op_of):
    ours, theirs = mp.Pipe()
    p = mp.Process(target=target, args=(theirs, ours))
    p.start()
    theirs.close()
    results[key] = batches(op_of(ours), 2000, 15)
    ours.close()
    p.join()


def w2(results):
    def small(conn):
        def op():
            conn.send(42)
            conn.recv()

        return op

    def bytes64(conn):
        payload = bytes(64)

        def op():
            conn.send_bytes(payload)
            conn.recv_bytes()

        return op

    pipe_roundtrip(results, "pipe/roundtrip/u64", echo_objects, small)
    pipe_roundtrip(results, "pipe/roundtrip/bytes64", echo_bytes, bytes64)


# ---------------------------------------------------------------- W3


def produce(q, size):
    if size == 8:
        i = 0
        while True:
            q.put(i)
            i += 1
    item = bytes(size)
    while True:
        q.put(item)


def w3(results):
    for name, size, per_batch in (("u64", 8, 20000), ("1KiB", 1024, 10000), ("1MiB", 1 << 20, 200)):
        # Bounded like mp's ring (16 items or 16 MiB), so the feeder
        # thread's buffer cannot grow without limit.
        q = mp.Queue(maxsize=max(16, min(10000, (16 << 20) // size)))
        p = mp.Process(target=produce, args=(q, size), daemon=True)
        p.start()
        r = batches(q.get, per_batch, 7)
        r["items_per_s"] = 1e9 / r["median_ns"]
        r["bytes_per_s"] = size * 1e9 / r["median_ns"]
        r["item_bytes"] = size
        results[f"queue/throughput/{name}"] = r
        p.terminate()
        p.join()
        q.cancel_join_thread()
        q.close()


# ---------------------------------------------------------------- W4


def incrementer(v, n, go, done):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    done.set()


def w4(results):
    n = scale(20000)
    samples = []
    for _ in range(5 if not QUICK else 2):
        v = mp.Value("q", 0)
        go, done = mp.Event(), mp.Event()
        p = mp.Process(target=incrementer, args=(v, n, go, done))
        p.start()
        time.sleep(0.05)
        t = time.perf_counter_ns()
        go.set()
        for _ in range(n):
            with v.get_lock():
                v.value += 1
        done.wait()
        samples.append((time.perf_counter_ns() - t) / (2 * n))
        p.join()
        assert v.value == 2 * n, "every increment counted"
    results["shm/value_lock_increment/2_processes"] = {
        "median_ns": statistics.median(samples),
        "samples": len(samples),
        "per_sample": 2 * n,
    }


# ---------------------------------------------------------------- W5


def square(x):
    return x * x


def burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def w5(results):
    with mp.Pool(2) as pool:
        pool.map(square, range(1000))  # workers up
        for key, n, chunksize, reps in (
            ("pool/map/100k_default_chunks", 100_000, None, 5),
            ("pool/map/10k_chunksize_1", 10_000, 1, 3),
        ):
            n = scale(n)
            samples = []
            for _ in range(reps):
                t = time.perf_counter_ns()
                out = pool.map(square, range(n), chunksize=chunksize)
                samples.append((time.perf_counter_ns() - t) / n)
                assert out[-1] == (n - 1) ** 2
            r = {"median_ns": statistics.median(samples), "samples": reps, "per_sample": n}
            r["items_per_s"] = 1e9 / r["median_ns"]
            results[key] = r

        results["pool/apply/roundtrip"] = batches(lambda: pool.apply(square, (7,)), 500, 10)

        # CPU-bound: 16 tasks of ~equal work, serially in this process vs
        # on the two workers.
        tasks = [scale(300_000)] * 16
        serial, pooled = [], []
        for _ in range(3):
            t = time.perf_counter_ns()
            expected = [burn(k) for k in tasks]
            serial.append(time.perf_counter_ns() - t)
            t = time.perf_counter_ns()
            assert pool.map(burn, tasks, chunksize=1) == expected
            pooled.append(time.perf_counter_ns() - t)
        s, p = statistics.median(serial), statistics.median(pooled)
        results["pool/cpu_bound_speedup"] = {"ratio": s / p, "serial_ns": s, "pool_ns": p}


# ---------------------------------------------------------------- W6


def w6(results):
    pipe_roundtrip(
        results,
        "manager/pipe_roundtrip",
        echo_objects,
        lambda conn: (lambda: (conn.send(1), conn.recv())),
    )
    with mp.Manager() as m:
        lst = m.list()
        counter = [0]

        def append():
            counter[0] += 1
            lst.append(counter[0])

        results["manager/list_append"] = batches(append, 1000, 10)

        d = m.dict()

        def set_item():
            counter[0] += 1
            d[counter[0] % 1024] = counter[0]

        results["manager/dict_set"] = batches(set_item, 1000, 10)

        v = m.Value("q", 42)
        results["manager/value_get"] = batches(lambda: v.value, 1000, 10)


# ---------------------------------------------------------------- W7


def w7(results):
    size = 1 << 20

    def create_attach_unlink():
        shm = shared_memory.SharedMemory(create=True, size=size)
        other = shared_memory.SharedMemory(name=shm.name)
        other.close()
        shm.close()
        shm.unlink()

    results["shm/create_attach_unlink_1MiB"] = batches(create_attach_unlink, 100, 10)


# ---------------------------------------------------------------- MEM


def memory(results):
    """Runs memory.py, the same processes as mp-bench/benches/memory.rs, in an
    interpreter of its own: under forkserver and spawn every worker imports
    the main module, and this script's imports would weigh on them."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memory.py")
    out = subprocess.run([sys.executable, script], check=True, capture_output=True, text=True)
    results.update(json.loads(out.stdout))


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7, "MEM": memory}


def main():
    global QUICK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    args = ap.parse_args()
    QUICK = args.quick
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)

    results = {}
    started = time.time()
    for name in only:
        t = time.time()
        WORKLOADS[name](results)
        print(f"{name} done in {time.time() - t:.1f} s", file=sys.stderr, flush=True)
    report = {
        "python": platform.python_implementation() + " " + platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "default_start_method": mp.get_start_method(),
        "quick": QUICK,
        "seconds": round(time.time() - started, 1),
        "results": results,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
