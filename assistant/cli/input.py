"""What the command line asks a person for: passwords, asked for (or read from the
environment) instead of typed into ``argv``."""

from __future__ import annotations

import os
import sys

import click

from ..mail.urls import needs_password, with_password


def password_for(url: str, protocol: str) -> str:
    """A URL written without its password gets it from ``FOLLOWUP_<PROTOCOL>_PASSWORD`` or a
    prompt, so a password never has to stand on the command line (``ps``, shell history)."""
    if not needs_password(url):
        return url
    password = os.environ.get(f"FOLLOWUP_{protocol}_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"the {protocol} URL has no password: set FOLLOWUP_{protocol}_PASSWORD "
                "or run in a terminal to be asked"
            )
        password = click.prompt(f"{protocol} password", hide_input=True)
    return with_password(url, password)
