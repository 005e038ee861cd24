"""Settings stay documented: every field is in local.settings.example.json and the docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.settings import ENV_PREFIX, Settings, env_name, environment_overrides, field_for

ROOT = Path(__file__).resolve().parents[2]


def env_names() -> set[str]:
    return {env_name(name) for name in Settings.model_fields}


def test_example_settings_list_every_setting() -> None:
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert env_names() <= set(values), env_names() - set(values)
    unknown = {k for k in values if k.startswith(ENV_PREFIX) or "Connection" in k} - env_names()
    assert not unknown, f"example lists settings the code does not read: {unknown}"


def test_example_values_are_the_defaults() -> None:
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    from_example = Settings.load(
        None, **{field_for(k): v for k, v in values.items() if field_for(k) and v != ""}
    )
    assert from_example == Settings.load(None)


def test_configuration_doc_names_every_setting() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = {name for name in env_names() if f"`{name}`" not in doc}
    assert not missing, f"docs/configuration.md does not describe {missing}"


def test_environment_wins_over_local_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local.settings.json"
    local.write_text(
        json.dumps({"Values": {"DTQ_JOBS_QUEUE": "from-file", "DTQ_LOG_LEVEL": "DEBUG"}})
    )
    monkeypatch.setenv("DTQ_JOBS_QUEUE", "from-env")
    settings = Settings.load(local)
    assert settings.jobs_queue == "from-env"
    assert settings.log_level == "DEBUG"


def test_binding_expressions_resolve_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.load(None, jobs_queue="q1")
    assert settings.app_setting("DTQ_JOBS_QUEUE") == "q1"
    monkeypatch.setenv("SOME_OTHER_SETTING", "x")
    assert settings.app_setting("SOME_OTHER_SETTING") == "x"
    with pytest.raises(KeyError):
        settings.app_setting("MISSING_SETTING_FOR_TEST")


def test_child_process_environment_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.load(None, queue_lock_seconds=2.5, data_dir=Path("/tmp/x"))
    for key, value in environment_overrides(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings.load(None) == settings


def test_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DTQ_QUEUE_LOCK_SECONDS", "-1")
    with pytest.raises(ValueError, match="queue_lock_seconds"):
        Settings.load(None)


def test_cli_settings_flags_beat_environment_beat_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dtq.cli.config import ClientSettings

    config = tmp_path / "config.toml"
    config.write_text(
        'url = "http://file:1"\napi_key = "file-key"\n'
        '[profiles.prod]\nurl = "https://prod.example"\napi_key = "prod-key"\n'
    )
    for name in ("DTQ_URL", "DTQ_API_KEY", "DTQ_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DTQ_CONFIG", str(config))
    assert (ClientSettings.load().url, ClientSettings.load().api_key) == (
        "http://file:1",
        "file-key",
    )
    prod = ClientSettings.load(profile="prod")
    assert (prod.url, prod.api_key) == ("https://prod.example", "prod-key")
    monkeypatch.setenv("DTQ_URL", "http://env:2")
    assert ClientSettings.load().url == "http://env:2"
    assert ClientSettings.load().api_key == "file-key", "each value on its own"
    assert ClientSettings.load(url="http://flag:3").url == "http://flag:3"
    with pytest.raises(ValueError, match="no profile"):
        ClientSettings.load(profile="staging")
    monkeypatch.setenv("DTQ_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("DTQ_URL")
    assert ClientSettings.load().url == "http://127.0.0.1:7071"
    assert "secret" not in repr(ClientSettings.load(api_key="secret")), "the key stays out of logs"


def test_the_api_client_calls_an_answer_that_is_not_json_a_problem() -> None:
    import httpx

    from dtq.client import ApiClient, ApiProblem

    def sign_in_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            302, headers={"location": "https://login.example", "content-type": "text/html"}
        )

    transport = httpx.MockTransport(sign_in_page)
    with (
        ApiClient("http://api.example", transport=transport) as api,
        pytest.raises(ApiProblem, match="a redirect: is the URL right"),
    ):
        api.stats()


async def test_the_lease_settings_reach_the_worker(tmp_path: Path) -> None:
    from shared.composition import Runtime

    rt = Runtime.from_settings(
        Settings.load(None, data_dir=tmp_path, lease_seconds=40, lease_renew_seconds=5)
    )
    try:
        assert (rt.worker.timing.lease_seconds, rt.worker.timing.lease_renew_seconds) == (40, 5)
    finally:
        await rt.close()
