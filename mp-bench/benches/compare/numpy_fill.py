#!/usr/bin/env python3
"""CPython's side of mp's `shm/fill_256MiB_f64` bench: numpy over a
`SharedMemory` of 256 MiB of float64, filled by two processes, each its
own half (the common large-data pattern), beside one process filling the
whole array (the bandwidth floor), measured as mp's criterion bench
measures it.

    python3 mp-bench/benches/compare/numpy_fill.py [--quick] [--out FILE]

numpy is not in the standard library: when it cannot be imported, the
script makes a virtual environment under the workspace's target/
(target/numpy-venv), pip-installs numpy into it and runs itself again
there. Where pip cannot install it (no network, no ensurepip), it says so
loudly on stderr and prints {"skipped": reason} (exit status 0).

Prints (or writes) JSON: {"python": ..., "numpy": ..., "results": {key:
{"median_ns": ...}}} with the keys shm/fill_256MiB_f64/one_process_floor
and shm/fill_256MiB_f64/numpy_2_processes: the median time of one fill of
the whole array.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

N = (256 << 20) // 8
VENV_ENV = "MP_NUMPY_FILL_IN_VENV"


def workspace():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def skipped(reason):
    bar = "!" * 72
    print(f"{bar}\nnumpy_fill.py: SKIPPED, numpy unavailable: {reason}\n{bar}", file=sys.stderr)
    return {"skipped": reason}


def numpy_or_venv(argv):
    """numpy, or None after re-running this script in a venv that has it
    (whose JSON then went out already), or a skip reason (str)."""
    try:
        import numpy

        return numpy
    except ImportError:
        pass
    if os.environ.get(VENV_ENV):
        return "numpy does not import even in the venv"
    venv = os.path.join(workspace(), "target", "numpy-venv")
    python = os.path.join(venv, "bin", "python")
    try:
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
        has = subprocess.run([python, "-c", "import numpy"], capture_output=True).returncode == 0
        if not has:
            r = subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "numpy"],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                return "pip could not install numpy: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    except (subprocess.CalledProcessError, OSError) as e:
        return f"cannot make a venv under target/: {e}"
    env = dict(os.environ, **{VENV_ENV: "1"})
    sys.stdout.flush()
    return subprocess.run([python, os.path.abspath(__file__)] + argv, env=env).returncode


def filler(name, go, done):
    """The child: on each `go` value, fills the high half with it (None stops)."""
    import numpy as np
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name=name)
    arr = np.ndarray((N,), dtype=np.float64, buffer=shm.buf)
    while True:
        x = go.recv()
        if x is None:
            break
        arr[N // 2 :] = x
        done.send(True)
    del arr
    shm.close()


def measure(np, quick):
    import multiprocessing as mp
    from multiprocessing import shared_memory

    samples = 3 if quick else 15
    shm = shared_memory.SharedMemory(create=True, size=N * 8)
    try:
        arr = np.ndarray((N,), dtype=np.float64, buffer=shm.buf)
        results = {}

        def median(op):
            op(0.5)  # warm-up (first touch of the pages)
            times = []
            for i in range(samples):
                t = time.perf_counter_ns()
                op(float(i + 1))
                times.append(time.perf_counter_ns() - t)
            return {"median_ns": statistics.median(times), "samples": samples}

        def alone(x):
            arr[:] = x

        results["shm/fill_256MiB_f64/one_process_floor"] = median(alone)

        ctx = mp.get_context("fork")
        go_parent, go_child = ctx.Pipe()
        done_child, done_parent = ctx.Pipe()
        p = ctx.Process(target=filler, args=(shm.name, go_child, done_child))
        p.start()

        def two(x):
            go_parent.send(x)
            arr[: N // 2] = x
            done_parent.recv()

        results["shm/fill_256MiB_f64/numpy_2_processes"] = median(two)
        go_parent.send(None)
        p.join()
        assert arr[N - 1] == float(samples), "the child filled its half"
        del arr
        return results
    finally:
        shm.close()
        shm.unlink()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    np = numpy_or_venv(sys.argv[1:])
    if isinstance(np, int):
        sys.exit(np)
    if isinstance(np, str):
        doc = skipped(np)
    else:
        doc = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "results": measure(np, args.quick),
        }
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
