"""What the local host refuses as Azure's Python worker would, apart from the rules that
find it (dtq/host/indexing.py), so the ``dtq`` command can name the refusal without
importing azure.functions on every run."""

from __future__ import annotations


class FunctionRefused(Exception):
    """A function the Python worker would refuse to index (and with it, the app)."""

    def __init__(self, function_name: str, reason: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {reason}")
        self.function_name = function_name
        self.reason = reason
