"""The layers' import contract: each layer imports only the layers below it.

core      pure decisions: nothing of the project outside core (tests/core/test_purity.py
          also bans I/O modules and clock reads)
mail      IMAP, SMTP, URLs: core only
store     the ORM models and bulk reads: core only
service   use-cases, I/O around core decisions: never a runner or an entry point (web, cli)
runners   long-running loops chaining the pipeline's steps (run, watch, scale_watch, fleet):
          service, web (``followup run`` starts the web server), mail, store, core; never cli
web, cli  entry points: call service functions; the ORM's models only as types
          (``if TYPE_CHECKING:``), except web/accounts.py, the web page's own sessions
workers   arq's settings and jobs: service, runners and below, never an entry point
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layer -> packages of the project it must not import.
FORBIDDEN = {
    "core": (
        "assistant.mail",
        "assistant.store",
        "assistant.service",
        "assistant.web",
        "assistant.cli",
        "assistant.runners",
        "assistant.runtime",
        "assistant.settings",
        "assistant.clock",
    ),
    "mail": (
        "assistant.store",
        "assistant.service",
        "assistant.runners",
        "assistant.web",
        "assistant.cli",
        "assistant.runtime",
    ),
    "store": (
        "assistant.mail",
        "assistant.service",
        "assistant.runners",
        "assistant.web",
        "assistant.cli",
    ),
    "service": ("assistant.runners", "assistant.web", "assistant.cli"),
    "runners": ("assistant.cli",),
    "web": ("assistant.runners", "assistant.cli"),
    "cli": (),
    "workers": ("assistant.web", "assistant.cli"),
}
#: Entry points reach the ORM's models only as types.
MODELS = ("assistant.store.models", "assistant.store.oauth_models")
ENTRY_POINTS = ("web", "cli")
OWN_SESSIONS = {"assistant/web/accounts.py"}


def _files(layer: str) -> list[Path]:
    base = ROOT / "workers" if layer == "workers" else ROOT / "assistant" / layer
    return sorted(p for p in base.rglob("*.py") if "migrations" not in p.parts)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module, imported only for type checking) for every import of ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in typing_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names = [f"{module}.{alias.name}" for alias in node.names]
            found += [(n, id(node) in typing_only) for n in [module, *names]]
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_the_layers_below(layer: str) -> None:
    files = _files(layer)
    assert files, f"no modules found for layer {layer}"
    broken = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module, _ in _imports(path)
        if any(_within(module, banned) for banned in FORBIDDEN[layer])
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("layer", ENTRY_POINTS)
def test_entry_points_reach_the_orm_through_service_functions(layer: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _files(layer)
        if str(path.relative_to(ROOT)) not in OWN_SESSIONS
        for module, typing_only in _imports(path)
        if not typing_only and any(_within(module, m) for m in MODELS)
    ]
    assert not broken, "\n".join(broken)


def test_the_contract_sees_a_broken_import(tmp_path: Path) -> None:
    """The checker itself: a relative import of the store from core is found."""
    fake = ROOT / "assistant" / "core" / "_layer_probe.py"
    try:
        fake.write_text("from ..store.models import Mailbox\n")
        assert ("assistant.store.models", False) in _imports(fake)
    finally:
        fake.unlink()
