"""A ``dtq worker`` started apart joins the push path of the ``dtq serve`` on its data
folder: the host notes its SignalR connection string there, for its owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtq.host.signalr_keys import NOTE, LocalSignalR, joined_service, note_service
from shared.settings import Settings

AZURE = "Endpoint=https://x.service.signalr.net;AccessKey=k;Version=1.0;"
VARIABLE = "AzureSignalRConnectionString"


@pytest.fixture(autouse=True)
def environment() -> Iterator[None]:
    """joined_service sets the variable for the worker's children: not for later tests
    (monkeypatch.delenv of an unset variable would not restore it)."""
    saved = os.environ.pop(VARIABLE, None)
    try:
        yield
    finally:
        os.environ.pop(VARIABLE, None)
        if saved is not None:
            os.environ[VARIABLE] = saved


def test_a_worker_started_apart_takes_the_hosts_connection(tmp_path: Path) -> None:
    local = LocalSignalR.new("127.0.0.1", 7071)
    host = Settings.load(None, data_dir=tmp_path)
    note_service(host, local)
    assert stat.S_IMODE((tmp_path / NOTE).stat().st_mode) == 0o600, "the key is a secret"
    joined = joined_service(Settings.load(None, data_dir=tmp_path))
    assert joined.signalr_connection == local.connection_string and joined.push_enabled


def test_a_connection_already_set_is_kept(tmp_path: Path) -> None:
    note_service(Settings.load(None, data_dir=tmp_path), LocalSignalR.new("127.0.0.1", 7071))
    mine = Settings.load(None, data_dir=tmp_path, signalr_connection=AZURE)
    assert joined_service(mine).signalr_connection == AZURE


def test_without_a_note_nothing_changes(tmp_path: Path) -> None:
    alone = Settings.load(None, data_dir=tmp_path)
    assert joined_service(alone).signalr_connection is None
    (tmp_path / NOTE).write_text(AZURE)
    assert joined_service(alone).signalr_connection is None, "only a local host's service"
