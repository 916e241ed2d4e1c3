"""The Celery side of mp-redis's W8 bench: the same trivial task as the
Rust bench (x -> x * x), on the same redis-server."""

import os

from celery import Celery

URL = os.environ["MP_BENCH_REDIS_URL"]
app = Celery("tasks", broker=URL, backend=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=600,
    worker_hijack_root_logger=False,
)


@app.task
def square(x):
    return x * x
