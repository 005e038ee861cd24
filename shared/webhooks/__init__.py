"""Completion webhooks: a signed POST (Standard Webhooks) to a job's ``callback_url``
when it ends, delivered at least once (docs/api.md, docs/security.md).

- ``records``: what the job keeps (its delivery, the attempts);
- ``targets``: which URLs and addresses may be called (SSRF rules);
- ``signing``: the Standard Webhooks headers;
- ``client``: one POST to a resolved, checked address;
- ``service``: :class:`Webhooks`, delivering, retrying, recovering, the secrets;
- ``outbox``: the status store decorator that enqueues the delivery of a job's end.
"""
