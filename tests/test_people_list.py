"""`followup people list` shows the people the service counts: the store's and the settings
file's, each marked by its source (the store's entry wins for the same address)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli_mailbox import run

SETTINGS = """
[[people]]
email = "File@Example.com"
name = "From the file"

[[people]]
email = "both@example.com"
name = "File name"
"""


def test_people_list_shows_the_store_and_the_settings_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    settings = tmp_path / "followup.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    env = {**cli_env, "FOLLOWUP_CONFIG": str(settings)}
    assert run(env, "people", "add", "both@example.com", "--name", "Store name").returncode == 0

    listed = run(env, "people", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["email"]: row for row in json.loads(listed.stdout)}
    assert rows["both@example.com"]["source"] == "store"
    assert rows["both@example.com"]["name"] == "Store name"
    assert rows["file@example.com"]["source"] == "settings"

    table = run(env, "people", "list").stdout
    assert "From the file" in table and "settings" in table and "store" in table
