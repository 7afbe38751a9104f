"""Every public exception class in ``assistant/`` and ``workers/`` hangs from FollowupError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import assistant
import workers
from assistant.core.errors import FollowupError, ImapError, OAuthError, UsageError

# Control flow inside one module, never shown to a person, or the template sandbox's own tree.
NOT_REPORTED = {"Denied", "BudgetExceeded"}


def _classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for package in (assistant, workers):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == info.name
                    and not name.startswith("_")
                    and name not in NOT_REPORTED
                ):
                    found.append(obj)
    return found


def test_every_public_error_is_a_followup_error() -> None:
    classes = _classes()
    assert len(classes) >= 20  # the walk found the modules
    strays = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, FollowupError)
    ]
    assert not strays, f"exceptions outside the tree: {strays}"


def test_the_branches_say_what_failed() -> None:
    from assistant.mail.imap import ConnectError
    from assistant.mail.urls import URLError
    from assistant.service.oauth_tokens import NeedsReauth

    assert issubclass(NeedsReauth, ImapError) and issubclass(NeedsReauth, OAuthError)
    assert issubclass(ConnectError, ImapError) and not issubclass(ConnectError, UsageError)
    assert issubclass(URLError, UsageError) and issubclass(URLError, ValueError)
