"""Azurite (Table storage) and a Cosmos DB server, started on free loopback ports from
the npm packages that ``./dev test`` installs, and stopped by pid."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT, free_port, stop_process

BIN = ROOT / "node_modules" / ".bin"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
COSMOS_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


def emulators_installed() -> bool:
    return (BIN / "azurite-table").exists() and (BIN / "cosmosdb-server").exists()


def emulators_required() -> bool:
    """``./dev test`` installs the emulators and sets this: a missing one is then a failure,
    not a skip."""
    return os.environ.get("DTQ_REQUIRE_EMULATORS") == "1"


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout}s")


@dataclass
class Emulator:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    location: Path | None = None

    def _launch(self, command: list[str], timeout: float = 30) -> None:
        """Start the emulator's process and wait until it listens on its port."""
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, self.proc, timeout, self.name)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None


class Azurite(Emulator):
    """Azurite's table service; in memory, or persisted in ``location`` so that a restart
    keeps the data (for outage tests)."""

    def __init__(self, location: Path | None = None, port: int | None = None) -> None:
        super().__init__("azurite-table", port or free_port(), location=location)

    def start(self, timeout: float = 30) -> Azurite:
        """``timeout``: longer for a large database file in ``location`` (bench/scale.py)."""
        storage = ["--location", str(self.location)] if self.location else ["--inMemoryPersistence"]
        self._launch(
            [
                str(BIN / "azurite-table"),
                *storage,
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.port),
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ],
            timeout,
        )
        return self

    @property
    def connection_string(self) -> str:
        return self.connection_string_via(self.port)

    def connection_string_via(self, port: int) -> str:
        """The connection string for reaching this Azurite through ``port`` (a proxy)."""
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )


class CosmosServer(Emulator):
    """@vercel/cosmosdb-server behind tests/support/cosmos_emulator.cjs (plain HTTP with
    keep-alive, 404 for missing items)."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__("cosmosdb-server", port or free_port())

    def start(self) -> CosmosServer:
        self._launch(
            ["node", str(ROOT / "tests" / "support" / "cosmos_emulator.cjs"), str(self.port)]
        )
        return self

    @property
    def connection_string(self) -> str:
        return f"AccountEndpoint=http://127.0.0.1:{self.port}/;AccountKey={COSMOS_KEY};"
