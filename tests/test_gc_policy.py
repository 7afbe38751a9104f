"""The collector is tuned once a command's modules are imported (see assistant/gc_policy.py)."""

from __future__ import annotations

import subprocess
import sys

from assistant.gc_policy import YOUNG_THRESHOLD


def test_a_command_runs_with_the_tuned_collector() -> None:
    """``followup`` tunes the collector after the command's imports, before it runs."""
    probe = (
        "import gc, sys\n"
        "from click.testing import CliRunner\n"
        "from assistant.cli import main\n"
        "before = gc.get_threshold()[0]\n"
        "result = CliRunner().invoke(main, ['inspect', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(before, gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["700", str(YOUNG_THRESHOLD), "True"]
