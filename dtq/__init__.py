"""The tools around the function app, never deployed with it: the local host (``dtq
serve``, ``dtq worker``: what ``func start`` and the Functions host do, for this app
on one machine), the ``dtq`` CLI, and the HTTP client the CLI and the tests use.

The function app (``function_app.py``, ``functions/``, ``shared/``) imports nothing
from here; the local host loads it from its folder, as ``func start`` does
(docs/architecture.md)."""
