"""The process's settings, built once at start from the settings file and the environment,
then passed down (nothing below an entry point reads ``os.environ``).

- ``FOLLOWUP_DATABASE_URL``: ``postgres://user:pass@host/db`` or ``sqlite:///path``; default
  an SQLite file in the data directory.
- ``FOLLOWUP_DATA_DIR``: default ``~/.local/share/followup`` (``followup run --data-dir``).
- ``FOLLOWUP_CONFIG``: the TOML settings file (business hours, ladder, people); optional.
- ``FOLLOWUP_SECRET_KEY`` / ``FOLLOWUP_SECRET_KEY_FILE``: see :mod:`assistant.secrets`.
- ``FOLLOWUP_REDIS_URL`` (or ``[scale] redis_url``): switches ``followup watch`` and
  ``followup worker`` to the scale-out mode (arq on Redis); unset, everything runs in one
  process (``followup run``).
- ``FOLLOWUP_LOG_LEVEL``: the arq worker's log level when started as ``arq
  workers.WorkerSettings`` (``followup worker --log-level`` otherwise).
- ``FOLLOWUP_JOB_TIMEOUT`` (or ``[scale] job_timeout``): seconds an arq job may run.
- ``FOLLOWUP_SEND_LEASE_SECONDS``: how long a row being sent is left alone by other
  processes (default :data:`SEND_LEASE`; the tests that kill senders shorten it).
- ``FOLLOWUP_SYNC_WORKERS``: parse processes of a large fetch (a first sync); ``0`` parses
  inline, a value that is not a number too (with a warning); default one per core but one.
- ``FOLLOWUP_SELF_FILING_SMTP_HOSTS`` (comma-separated): more SMTP hosts that file what they
  send in Sent themselves, for ``sent_copy = auto`` (beside the built-in table).
- ``FOLLOWUP_OAUTH_<NAME>_CLIENT_SECRET``: ``[oauth.<name>]``'s client secret, kept out of
  the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from .clock import Clock, SystemClock
from .core.durations import Duration
from .core.evaluate import MailboxPolicy
from .core.ladder import Kind
from .core.ownership import Person
from .settings import (
    ConfigError,
    FollowupConfig,
    build_policy,
    load_config,
    with_client_secrets,
)
from .store.db import database_url
from .store.models import Mailbox

log = logging.getLogger("followup.runtime")

#: How long a row being sent is left alone by other processes (longer than any SMTP send).
SEND_LEASE = timedelta(seconds=300)

NO_REDIS = (
    "the scale-out mode needs Redis: set FOLLOWUP_REDIS_URL (or [scale] redis_url), "
    "e.g. redis://127.0.0.1:6379/0; without it, `followup run` does everything in one process"
)


@dataclass(frozen=True)
class Environment:
    """The ``FOLLOWUP_*`` variables the settings are built from, read in one place."""

    data_dir: Path
    config_path: Path | None = None
    database_url: str | None = None
    redis_url: str | None = None
    log_level: str = "INFO"
    job_timeout: float | None = None
    send_lease: float | None = None
    #: None: one parse process per core but one.
    sync_workers: int | None = None
    self_filing_hosts: tuple[str, ...] = ()
    #: ``FOLLOWUP_OAUTH_<NAME>_CLIENT_SECRET`` variables, by name.
    oauth_secrets: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """Read ``environ`` (the process's environment by default)."""
        env = os.environ if environ is None else environ
        home_data = Path.home() / ".local" / "share" / "followup"
        return cls(
            data_dir=Path(env.get("FOLLOWUP_DATA_DIR") or home_data),
            config_path=Path(env["FOLLOWUP_CONFIG"]) if env.get("FOLLOWUP_CONFIG") else None,
            database_url=env.get("FOLLOWUP_DATABASE_URL") or None,
            redis_url=env.get("FOLLOWUP_REDIS_URL") or None,
            log_level=env.get("FOLLOWUP_LOG_LEVEL") or "INFO",
            job_timeout=_seconds(env, "FOLLOWUP_JOB_TIMEOUT"),
            send_lease=_seconds(env, "FOLLOWUP_SEND_LEASE_SECONDS"),
            sync_workers=_workers(env, "FOLLOWUP_SYNC_WORKERS"),
            self_filing_hosts=_names(env, "FOLLOWUP_SELF_FILING_SMTP_HOSTS"),
            oauth_secrets={
                k: v
                for k, v in env.items()
                if k.startswith("FOLLOWUP_OAUTH_") and k.endswith("_CLIENT_SECRET")
            },
        )


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    try:
        seconds = float(text) if text else None
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if seconds is not None and not seconds > 0:  # 0 would silently mean "the default"
        raise ConfigError(f"{name}={text!r}: give a number of seconds above 0")
    return seconds


def _workers(env: Mapping[str, str], name: str) -> int | None:
    """A count of processes (negative: none); one that is not a number means none, with a
    warning (parsing inline is always correct, only slower)."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return max(0, int(text))
    except ValueError:
        log.warning("%s=%r is not a number: parsing inline", name, text)
        return 0


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in env.get(name, "").split(",") if h.strip())


@dataclass(frozen=True)
class Runtime:
    """Resolved locations and the loaded settings file."""

    database_url: str
    data_dir: Path
    config: FollowupConfig
    redis_url: str | None = None
    #: The process's one clock, chosen by the entry point (tests pass one they move).
    clock: Clock = field(default_factory=SystemClock)
    #: The log level of processes started for this one (arq workers, watchers).
    log_level: str = "INFO"
    #: Seconds an arq job may run before it is cancelled (and retried).
    job_timeout: float = 300.0
    #: How long a delivery pass holds a row it sends (``FOLLOWUP_SEND_LEASE_SECONDS``).
    send_lease: timedelta = SEND_LEASE
    #: Parse processes of a large fetch; None: one per core but one (``FOLLOWUP_SYNC_WORKERS``).
    sync_workers: int | None = None
    #: More SMTP hosts that file their own copy in Sent (``FOLLOWUP_SELF_FILING_SMTP_HOSTS``).
    self_filing_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(
        cls,
        config_path: Path | None = None,
        clock: Clock | None = None,
        *,
        data_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Runtime:
        """Read the environment (and the settings file it names); an argument given by the
        command line wins over its variable. ``clock`` defaults to the real time (an entry
        point's choice: this is called by entry points only)."""
        env = Environment.read(environ)
        where = data_dir or env.data_dir
        config = with_client_secrets(load_config(config_path or env.config_path), env.oauth_secrets)
        return cls(
            database_url(env.database_url, where),
            where,
            config,
            env.redis_url or config.scale.redis_url or None,
            clock or SystemClock(),
            log_level=env.log_level,
            job_timeout=env.job_timeout or config.scale.job_timeout,
            send_lease=SEND_LEASE if env.send_lease is None else timedelta(seconds=env.send_lease),
            sync_workers=env.sync_workers,
            self_filing_hosts=env.self_filing_hosts,
        )

    def queue_url(self) -> str:
        """The Redis URL of the scale-out mode, or an error saying how to set it."""
        if not self.redis_url:
            raise ConfigError(NO_REDIS)
        return self.redis_url

    def policy(self, mailbox: Mailbox, people: Mapping[str, Person] | None = None) -> MailboxPolicy:
        """The rules for one stored mailbox: its team and address, the file's hours and
        ladder, and ``people`` (the store's) over the file's."""
        cfg = self.config.model_copy(
            update={
                "mailbox": self.config.mailbox.model_copy(
                    update={"name": mailbox.name, "address": mailbox.address, "team": mailbox.team}
                )
            }
        )
        policy = build_policy(cfg)
        grace = Duration(rest=timedelta(seconds=mailbox.grace_seconds))
        steps = tuple(
            replace(step, after=grace) if step.kind is Kind.ACKNOWLEDGE else step
            for step in policy.ladder.steps
        )
        everyone = {**policy.people, **(people or {})}
        return replace(policy, ladder=replace(policy.ladder, steps=steps), people=everyone)
