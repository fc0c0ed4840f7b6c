"""Settings, read once from the environment (prefix ``GAMEDAY_``) and passed explicitly.

Every variable is documented in ``.env.example``. Secrets (Slack token, webhook URL,
chaos token) are ``SecretStr`` so they never print in logs, journals or reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gameday.errors import ConfigError
from gameday.paths import REPO_ROOT, REPORTS_DIR, STATE_DIR
from gameday.runbook import DEFAULT_FAULT_TTL_S

__all__ = ["Settings", "get_settings"]

TargetName = Literal["local", "compose"]


class Settings(BaseSettings):
    """Harness configuration. Construct with keyword overrides in tests."""

    model_config = SettingsConfigDict(
        env_prefix="GAMEDAY_",
        env_file=REPO_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    target: TargetName = "local"
    #: Where the harness reaches the stack (the compose target's Docker host, if remote).
    host: str = "127.0.0.1"
    #: Compose target: the address its ports are published on (docker-compose.yml).
    bind_address: str = "127.0.0.1"
    #: The port a system runs from (``{{ base_port }}`` in its file's templates; this
    #: setting wins over the file's ``base_port``).
    base_port: int = Field(5001, ge=1024, le=65000)
    state_dir: Path = STATE_DIR
    reports_dir: Path = REPORTS_DIR
    #: The Chromium (or Chrome) binary ``gameday report --pdf`` prints with; default: the
    #: first of chromium, chromium-browser, google-chrome on PATH.
    chromium: str | None = None
    #: Sent as X-Chaos-Token on fault injection; the local stack is started with it.
    chaos_token: SecretStr | None = None
    #: Time-to-live of a fault when the runbook names none (gameday.runbook: precedence).
    fault_ttl_s: float = Field(DEFAULT_FAULT_TTL_S, gt=0)
    #: Compose project whose containers the compose target drives.
    compose_project: str = "gameday"
    #: Compose file(s), ``:``-separated like ``COMPOSE_FILE``; relative to the current
    #: directory or the repository root. ``docker-compose.yml:docker-compose.local.yml``
    #: runs the images that ``make images`` builds.
    compose_file: str = str(REPO_ROOT / "docker-compose.yml")

    @field_validator("compose_file", mode="before")
    @classmethod
    def _path_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    #: Base URL where the reports folder is served (``gameday serve --reports``, a web
    #: server, CI artifacts): report paths become links in Slack and Prefect artifacts.
    report_url: str | None = None

    @field_validator("report_url", mode="before")
    @classmethod
    def _http_base(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http:// or https:// URL (got {text!r})")
        if any(c in text for c in '<>|" ') or parts.query or parts.fragment:
            raise ValueError("must be a plain base URL: no spaces, <, >, |, quotes, query or "
                             f"fragment (got {text!r})")
        return text if text.endswith("/") else text + "/"

    slack_webhook_url: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    #: Base URL of Slack's Web API (tests point it at a local server); must end in "/".
    slack_api_url: str = "https://slack.com/api/"
    #: Attach report.html to the GameDay's Slack thread (bot token, scope files:write).
    slack_attach_report: bool = False
    #: Largest report attached; a larger one is not sent (and says so in the journal).
    slack_attach_max_mb: float = Field(20.0, gt=0, le=1000)


def get_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, applying keyword overrides."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """One line per invalid setting, named as the user set it: ``GAMEDAY_BASE_PORT: ...``."""
    secret = {name for name, field in Settings.model_fields.items()
              if "SecretStr" in str(field.annotation)}
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if "(got " not in message and field not in secret:
            message += f" (got {error.get('input')!r})"
        lines.append(f"GAMEDAY_{field.upper()}: {message}")
    return "invalid setting" + ("s" if len(lines) > 1 else "") + ": " + "; ".join(lines)
