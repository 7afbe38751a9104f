"""Config object for tortoise's own CLI: ``python -m tortoise -c
assistant.store.tortoise_cli.TORTOISE_ORM makemigrations`` (developers, after a model change)."""

from __future__ import annotations

import os

from .db import tortoise_config

TORTOISE_ORM = tortoise_config(os.environ.get("FOLLOWUP_DATABASE_URL", "sqlite://:memory:"))
