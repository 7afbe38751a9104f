"""Where the service keeps its state, from the environment (12-factor style).

- ``FOLLOWUP_DATABASE_URL``: ``postgres://user:pass@host/db`` or ``sqlite:///path``; default
  an SQLite file in the data directory.
- ``FOLLOWUP_DATA_DIR``: default ``~/.local/share/followup``.
- ``FOLLOWUP_CONFIG``: the TOML settings file (business hours, ladder, people); optional.
- ``FOLLOWUP_SECRET_KEY`` / ``FOLLOWUP_SECRET_KEY_FILE``: see :mod:`assistant.secrets`.
- ``FOLLOWUP_REDIS_URL`` (or ``[scale] redis_url``): switches ``followup watch`` and
  ``followup worker`` to the scale-out mode (arq on Redis); unset, everything runs in one
  process (``followup run``).
"""

from __future__ import annotations

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
from .settings import FollowupConfig, build_policy, load_config
from .store.db import database_url
from .store.models import Mailbox


@dataclass(frozen=True)
class Runtime:
    """Resolved locations and the loaded settings file."""

    database_url: str
    data_dir: Path
    config: FollowupConfig
    redis_url: str | None = None
    #: The process's one clock, chosen by the entry point (tests pass one they move).
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_env(cls, config_path: Path | None = None, clock: Clock | None = None) -> Runtime:
        """Read the environment (and the settings file it names); ``clock`` defaults to the
        real time (an entry point's choice: this is called by entry points only)."""
        data_dir = Path(
            os.environ.get("FOLLOWUP_DATA_DIR") or Path.home() / ".local" / "share" / "followup"
        )
        path = config_path or (
            Path(os.environ["FOLLOWUP_CONFIG"]) if os.environ.get("FOLLOWUP_CONFIG") else None
        )
        url = database_url(os.environ.get("FOLLOWUP_DATABASE_URL"), data_dir)
        config = load_config(path)
        redis = os.environ.get("FOLLOWUP_REDIS_URL") or config.scale.redis_url
        return cls(url, data_dir, config, redis or None, clock or SystemClock())

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
