"""The queue-triggered worker: one message in, one Worker.handle call.

Settlement is the host's: it completes the message when this function returns
and abandons it when it raises (``autoCompleteMessages: true`` in host.json; the
local host applies the same rule). :class:`DeadLetterMessage` asks for the
dead-letter queue: the local host dead-letters at once with its reason; Service Bus
dead-letters a message abandoned ``maxDeliveryCount`` times (docs/retries.md).
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime
from shared.errors import DeadLetterMessage, ValidationFailed
from shared.messages import Delivery, JobMessage

log = logging.getLogger(__name__)

bp = func.Blueprint()


async def _run(msg: func.ServiceBusMessage) -> None:
    try:
        job_message = JobMessage.decode(msg.get_body(), dict(msg.application_properties or {}))
    except ValidationFailed as exc:
        raise DeadLetterMessage("PoisonMessage", exc.detail) from None
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
