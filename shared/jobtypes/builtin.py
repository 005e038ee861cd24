"""Offline job types used by the demo, the tests and the benchmarks."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.jobtypes.context import JobContext
from shared.jobtypes.errors import PermanentJobError, TransientJobError
from shared.jobtypes.registry import JobTypeRegistry


class EchoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="Text returned unchanged as the result.")


async def echo(payload: EchoPayload, ctx: JobContext) -> dict[str, Any]:
    """Returns its message unchanged."""
    return {"message": payload.message}


class SimulatePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_ms: int = Field(ge=0, le=3_600_000, description="Total time to sleep.")
    steps: int = Field(default=1, ge=1, le=1000, description="Equal parts; progress after each.")
    fail_first: int = Field(
        default=0, ge=0, description="The first N attempts fail with a transient error."
    )
    fail_permanently: bool = Field(default=False, description="Fail with a permanent error.")


async def simulate(payload: SimulatePayload, ctx: JobContext) -> dict[str, Any]:
    """Sleeps in equal steps, reporting progress; can fail on purpose."""
    if payload.fail_permanently:
        ctx.log("failing for good, as fail_permanently asks")
        raise PermanentJobError("simulated permanent failure (fail_permanently is true)")
    if ctx.attempt <= payload.fail_first:
        ctx.log(f"attempt {ctx.attempt} fails, as fail_first is {payload.fail_first}")
        raise TransientJobError(
            f"simulated transient failure on attempt {ctx.attempt}"
            f" (fail_first is {payload.fail_first})"
        )
    step = payload.duration_ms / payload.steps / 1000
    ctx.log(f"attempt {ctx.attempt}: {payload.steps} step(s) of {step * 1000:g} ms")
    for i in range(1, payload.steps + 1):
        await asyncio.sleep(step)
        ctx.log(f"step {i} of {payload.steps} done")
        await ctx.report(round(i * 100 / payload.steps), f"step {i} of {payload.steps}")
    return {"duration_ms": payload.duration_ms, "steps": payload.steps, "attempt": ctx.attempt}


def register(registry: JobTypeRegistry) -> None:
    registry.register("echo", EchoPayload, echo)
    registry.register("simulate", SimulatePayload, simulate)
