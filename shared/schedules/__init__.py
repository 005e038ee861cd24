"""Recurring schedules (docs/schedules.md): the schedule record and its tick claims
(``model``), the store port (``port``), when a schedule fires (``timing``), the API's
service (``service``) and the timer's tick runner (``ticks``)."""
