"""Frames of the SignalR JSON hub protocol, and the items of a ``signalR`` output as
what they do to a hub (dtq/host/signalr.py's ``:batch``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: The record separator ending every JSON hub protocol message.
RS = "\x1e"


def record(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str) + RS


def step(item: dict[str, Any]) -> Callable[[Any], object]:
    """One item of a batch, as what it does to a hub: a group action (``action`` add or
    remove, ``groupName``, ``userId``) or a message (``target``, ``arguments``, sent to
    its ``groupName``, else its ``userId``, else everyone)."""
    if "action" in item:
        action, group, user = (
            str(item["action"]).lower(),
            str(item["groupName"]),
            str(item["userId"]),
        )
        if action == "add":
            return lambda hub: hub.groups_of[user].add(group)
        if action == "remove":
            return lambda hub: hub.groups_of.get(user, set()).discard(group)
        raise ValueError(f"group action {item['action']!r} is not supported")
    frame = record(
        {"type": 1, "target": str(item["target"]), "arguments": list(item.get("arguments", []))}
    )
    if item.get("groupName"):
        group = str(item["groupName"])
        return lambda hub: hub.send(frame, group=group)
    if item.get("userId"):
        user = str(item["userId"])
        return lambda hub: hub.send(frame, user=user)
    return lambda hub: hub.send(frame)
