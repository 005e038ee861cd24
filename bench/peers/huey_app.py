"""The Huey side of bench/throughput.py: a no-op task on SqliteHuey (the embedded peer)."""

import os

from huey import SqliteHuey

huey = SqliteHuey("bench", filename=os.environ["BENCH_HUEY_DB"], results=True)


@huey.task()
def echo(message: str) -> dict[str, str]:
    return {"message": message}
