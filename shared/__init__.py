"""dtq core: the host-agnostic domain, services, ports and adapters.

Nothing in this package knows which host runs it (Azure Functions or the local
host); the hosts call the services through the thin triggers in ``functions/``.
"""

__version__ = "0.1.0"
