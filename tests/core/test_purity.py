"""The core stays pure: it imports nothing of the project outside core, no I/O modules, and
never reads the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "assistant" / "core"
FORBIDDEN_MODULES = {
    "socket",
    "ssl",
    "asyncio",
    "os",
    "subprocess",
    "time",
    "logging",
    "imaplib",
    "smtplib",
    "imapclient",
    "aiosmtplib",
    "tortoise",
    "arq",
    "redis",
    "sqlite3",
    "random",
    "threading",
    "urllib",
    "http",
    "requests",
    "pathlib",
    "io",
    "shutil",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))  # machine_rules/ too
    assert len(files) > 10, "core modules not found"
    return files


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                assert top not in FORBIDDEN_MODULES, f"{path.name} imports {alias.name}"
                assert top != "assistant", (
                    f"{path.name} imports {alias.name}: use relative core imports"
                )
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")[0]
                assert top not in FORBIDDEN_MODULES, f"{path.name} imports from {node.module}"
                assert top != "assistant", f"{path.name} imports from {node.module}"
            else:
                depth = len(path.relative_to(CORE).parts)  # 1 in core, 2 in machine_rules/
                assert node.level <= depth, (
                    f"{path.name} reaches outside core: {'.' * node.level}{node.module}"
                )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in CLOCK_CALLS, (
                f"{path.name}:{node.lineno} reads the clock ({node.func.attr}())"
            )
        elif isinstance(node, ast.Global):
            pytest.fail(f"{path.name}:{node.lineno} uses global state")
