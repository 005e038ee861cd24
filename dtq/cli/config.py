"""The CLI's own settings: where its API commands send requests, and with which key.
Not the app's settings (shared/settings.py): the API commands run without the app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


#: Where the CLI looks for its config file when DTQ_CONFIG does not say.
def _default_client_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dtq" / "config.toml"


class ClientSettings(BaseSettings):
    """Where the ``dtq`` CLI's API commands send their requests, and with which key.

    Flags win over the environment (``DTQ_URL``, ``DTQ_API_KEY``, ``DTQ_PROFILE``), which
    wins over the config file (``DTQ_CONFIG``, else ``$XDG_CONFIG_HOME/dtq/config.toml``):
    top-level ``url`` and ``api_key``, and ``[profiles.NAME]`` tables picked with
    ``--profile``. These are the CLI's settings, not the app's: they are not in
    ``local.settings.example.json``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    url: str = Field(default="http://127.0.0.1:7071", validation_alias="DTQ_URL")
    api_key: str | None = Field(default=None, validation_alias="DTQ_API_KEY", repr=False)
    profile: str | None = Field(default=None, validation_alias="DTQ_PROFILE")
    config_file: Path = Field(default_factory=_default_client_config, validation_alias="DTQ_CONFIG")

    @classmethod
    def load(
        cls,
        *,
        url: str | None = None,
        api_key: str | None = None,
        profile: str | None = None,
        config_file: Path | None = None,
    ) -> ClientSettings:
        import tomllib

        env = cls()  # the environment (and defaults)
        path = config_file or env.config_file
        chosen = profile or env.profile
        values: dict[str, Any] = {}
        if path.is_file():
            data = tomllib.loads(path.read_text())
            values = {k: data[k] for k in ("url", "api_key") if k in data}
            if chosen is not None:
                profiles = data.get("profiles", {})
                if chosen not in profiles:
                    raise ValueError(f"no profile {chosen!r} in {path}")
                values.update(
                    {k: v for k, v in profiles[chosen].items() if k in ("url", "api_key")}
                )
        elif chosen is not None:
            raise ValueError(f"profile {chosen!r} asked for, but there is no config file {path}")
        for name in ("url", "api_key"):
            if name in env.model_fields_set:
                values[name] = getattr(env, name)
        if url is not None:
            values["url"] = url
        if api_key is not None:
            values["api_key"] = api_key
        return cls.model_construct(
            url=values.get("url", env.url),
            api_key=values.get("api_key"),
            profile=chosen,
            config_file=path,
        )
