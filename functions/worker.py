"""The queue-triggered worker: one message in, one Worker.handle call.

Settlement is the host's: it completes the message when this function returns
and abandons it when it raises (``autoCompleteMessages: true`` in host.json; the
local host applies the same rule). Service Bus dead-letters a message abandoned
``maxDeliveryCount`` times.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime
from shared.messages import Delivery, JobMessage

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%DTQ_JOBS_QUEUE%", connection="ServiceBusConnection"
)
async def run_job(msg: func.ServiceBusMessage) -> None:
    # A malformed message raises here: it is abandoned until the queue dead-letters it.
    job_message = JobMessage.decode(msg.get_body(), dict(msg.application_properties or {}))
    delivery = Delivery(job_message, msg.message_id or "", msg.delivery_count or 1)
    await runtime().worker.handle(delivery)
