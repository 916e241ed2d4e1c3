"""Measures Celery on the redis-server at MP_BENCH_REDIS_URL with 2 prefork
worker processes: tasks/s with one task per item, items/s in chunks of
1000, and the median delay().get() round trip. Prints one JSON line."""

import json
import os
import statistics
import subprocess
import sys
import time

from celery import group

from tasks import app, square

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = int(os.environ.get("MP_BENCH_TASKS", "2000"))
ITEMS = int(os.environ.get("MP_BENCH_ITEMS", "100000"))
CHUNK = int(os.environ.get("MP_BENCH_CHUNK", "1000"))
ROUND_TRIPS = int(os.environ.get("MP_BENCH_ROUND_TRIPS", "300"))


def main():
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-c", "2",
         "-P", "prefork", "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=HERE,
    )
    try:
        deadline = time.time() + 90
        while not app.control.ping(timeout=0.5):
            if time.time() > deadline:
                raise SystemExit("the celery worker did not answer in 90 s")
        for i in range(20):
            square.delay(i).get(timeout=60)

        samples = []
        for i in range(ROUND_TRIPS):
            t = time.perf_counter()
            square.delay(i).get(timeout=60)
            samples.append(time.perf_counter() - t)
        round_trip = statistics.median(samples)

        t = time.perf_counter()
        group(square.s(i) for i in range(TASKS)).apply_async().get(timeout=300)
        tasks_per_s = TASKS / (time.perf_counter() - t)

        t = time.perf_counter()
        square.chunks(((i,) for i in range(ITEMS)), CHUNK).group().apply_async().get(timeout=300)
        items_per_s = ITEMS / (time.perf_counter() - t)

        import celery
        print(json.dumps({
            "celery": celery.__version__,
            "tasks_per_s": tasks_per_s,
            "chunked_items_per_s": items_per_s,
            "round_trip_s": round_trip,
            "tasks": TASKS,
            "items": ITEMS,
            "chunk": CHUNK,
        }), flush=True)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    main()
