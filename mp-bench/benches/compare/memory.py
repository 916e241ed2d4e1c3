#!/usr/bin/env python3
"""Memory of CPython's multiprocessing helper processes when idle, the same
processes as mp-bench/benches/memory.rs: the proportional set size (PSS:
each resident page's size divided by the number of processes mapping it,
from /proc/<pid>/smaps_rollup) of a Pool(4) worker per start method after a
warm-up map, of a manager's server process (forkserver) after 100 appends,
and of the forkserver once the processes it forked are gone.

    python3 mp-bench/benches/compare/memory.py

Prints JSON: {key: {"pss_bytes": mean over the processes, "processes": n}}.
workloads.py runs it (its MEM workload) in an interpreter of its own: it
imports nothing beyond what it needs, since under forkserver and spawn every
worker imports the main module. Only the standard library is used.
"""

import json
import multiprocessing as mp
import time
from multiprocessing import forkserver


def square(x):
    return x * x


def trivial():
    pass


def pss_bytes(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss line for {pid}")


def wait_idle(pid):
    """Waits until `pid` sleeps (state S): idle, waiting for work."""
    deadline = time.monotonic() + 10
    while True:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat.rsplit(")", 1)[1].split()[0] == "S":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pid} is not idle: {stat}")
        time.sleep(0.001)


def record(results, key, pids):
    for pid in pids:
        wait_idle(pid)
    sizes = [pss_bytes(pid) for pid in pids]
    results[key] = {"pss_bytes": sum(sizes) / len(sizes), "processes": len(sizes)}


def main():
    results = {}
    methods = mp.get_all_start_methods()
    for method in ("fork", "forkserver", "spawn"):
        if method not in methods:
            continue
        with mp.get_context(method).Pool(4) as pool:
            pool.map(square, range(1000))
            # Pool._pool: the worker processes (no public way to their pids).
            record(results, f"memory/pss/pool_worker_idle/{method}", [p.pid for p in pool._pool])
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        with ctx.Manager() as m:
            lst = m.list()
            for i in range(100):
                lst.append(i)
            del lst
            # SyncManager._process: the server process.
            record(results, "memory/pss/manager_server/forkserver", [m._process.pid])
        p = ctx.Process(target=trivial)
        p.start()
        p.join()
        # The module's private singleton holds the only record of its pid.
        record(results, "memory/pss/forkserver", [forkserver._forkserver._forkserver_pid])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
