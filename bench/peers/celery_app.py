"""The Celery side of bench/throughput.py: a no-op task with a Redis broker and results."""

import os

from celery import Celery

url = os.environ["BENCH_REDIS_URL"]
app = Celery("bench", broker=url, backend=url)
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=True)


@app.task(name="echo")
def echo(message: str) -> dict[str, str]:
    return {"message": message}
