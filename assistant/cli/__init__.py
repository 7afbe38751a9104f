"""The ``followup`` command, one module per area: ``replay`` (inspect, replay), ``mailbox``
(mailbox ..., sync, secret-key), ``run`` (run, watch), ``scale`` (worker, migrate, web),
``team`` (people, digest, thread); what they share is in ``common``. Each area is imported
only when one of its commands runs, and every failure of the error tree ends the command
with one line (:func:`assistant.cli.common.reported`)."""

from __future__ import annotations

import click

from .. import __version__
from .common import LazyGroup

COMMANDS = {
    "inspect": "assistant.cli.replay:inspect",
    "replay": "assistant.cli.replay:replay",
    "mailbox": "assistant.cli.mailbox:mailbox",
    "sync": "assistant.cli.mailbox:sync",
    "secret-key": "assistant.cli.mailbox:secret_key",
    "watch": "assistant.cli.run:watch",
    "run": "assistant.cli.run:run_command",
    "worker": "assistant.cli.scale:worker",
    "migrate": "assistant.cli.scale:migrate",
    "web": "assistant.cli.scale:web",
    "people": "assistant.cli.team:people",
    "digest": "assistant.cli.team:digest",
    "thread": "assistant.cli.team:thread",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="followup")
def main() -> None:
    """Followup: acknowledge clients, own every waiting thread, escalate before it is late."""


__all__ = ["main"]
