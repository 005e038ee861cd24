"""The queue-triggered worker: one message in, one Worker.handle call.

Settlement is the host's, and the same on both hosts (``autoCompleteMessages: true``
in host.json): the message is completed when this function returns and abandoned when
it raises; Service Bus dead-letters a message abandoned ``maxDeliveryCount`` times
(``MaxDeliveryCountExceeded``). A Python function cannot dead-letter a message itself
(docs/retries.md), so:

- a job that fails for good is recorded ``failed`` with its dead-letter record by the
  worker, and this function returns: the message is completed;
- a message that cannot be decoded names no job: this function raises, so it is
  abandoned, and the queue dead-letters it after ``maxDeliveryCount`` deliveries.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime
from shared.errors import ValidationFailed
from shared.messages import Delivery, JobMessage

log = logging.getLogger(__name__)

bp = func.Blueprint()


async def _run(msg: func.ServiceBusMessage) -> None:
    try:
        job_message = JobMessage.decode(msg.get_body(), dict(msg.application_properties or {}))
    except ValidationFailed as exc:
        # Poison: raise, so the host abandons it until the queue dead-letters it.
        log.warning(
            "message %s (delivery %s) is not a job message: %s",
            msg.message_id,
            msg.delivery_count,
            exc.detail,
        )
        raise
    delivery = Delivery(job_message, msg.message_id or "", msg.delivery_count or 1)
    await runtime().worker.handle(delivery)


# One queue, and so one trigger, per priority (shared/priorities.py): each trigger gets
# its own maxConcurrentCalls slots, so no priority waits behind another's backlog.


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%DTQ_JOBS_QUEUE_HIGH%", connection="ServiceBusConnection"
)
async def run_job_high(msg: func.ServiceBusMessage) -> None:
    await _run(msg)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%DTQ_JOBS_QUEUE%", connection="ServiceBusConnection"
)
async def run_job(msg: func.ServiceBusMessage) -> None:
    await _run(msg)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%DTQ_JOBS_QUEUE_LOW%", connection="ServiceBusConnection"
)
async def run_job_low(msg: func.ServiceBusMessage) -> None:
    await _run(msg)
