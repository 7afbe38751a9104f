"""The settings are built once, from the file and the environment, and passed down: to the
arq worker in its ``ctx``, with the command line's choices over the variables."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from assistant.runtime import SEND_LEASE, Environment, Runtime
from assistant.settings import ConfigError
from workers.settings import _plain_timeout, worker_options

OAUTH = """
[oauth.google]
client_id = "x"

[oauth.my-idp]
client_id = "y"
client_secret = "from-the-file"
"""


def test_the_environment_is_read_in_one_place(tmp_path: Path) -> None:
    env = Environment.read(
        {
            "FOLLOWUP_DATA_DIR": str(tmp_path),
            "FOLLOWUP_REDIS_URL": "redis://127.0.0.1:1/0",
            "FOLLOWUP_LOG_LEVEL": "DEBUG",
            "FOLLOWUP_JOB_TIMEOUT": "15",
        }
    )
    assert env.data_dir == tmp_path and env.redis_url == "redis://127.0.0.1:1/0"
    assert env.log_level == "DEBUG" and env.job_timeout == 15.0
    with pytest.raises(ConfigError, match="FOLLOWUP_JOB_TIMEOUT"):
        Environment.read({"FOLLOWUP_JOB_TIMEOUT": "soon"})


def test_the_delivery_and_sync_variables_reach_the_runtime(tmp_path: Path) -> None:
    """FOLLOWUP_SEND_LEASE_SECONDS, FOLLOWUP_SYNC_WORKERS and FOLLOWUP_SELF_FILING_SMTP_HOSTS
    are read at start, into the settings passed down (nothing reads them later)."""
    environ = {
        "FOLLOWUP_DATA_DIR": str(tmp_path),
        "FOLLOWUP_SEND_LEASE_SECONDS": "6",
        "FOLLOWUP_SYNC_WORKERS": "2",
        "FOLLOWUP_SELF_FILING_SMTP_HOSTS": " smtp.a.test, ,smtp.b.test ",
    }
    runtime = Runtime.from_env(environ=environ)
    assert runtime.send_lease == timedelta(seconds=6) and runtime.sync_workers == 2
    assert runtime.self_filing_hosts == ("smtp.a.test", "smtp.b.test")
    default = Runtime.from_env(environ={"FOLLOWUP_DATA_DIR": str(tmp_path)})
    assert default.send_lease == SEND_LEASE == timedelta(seconds=300)
    assert default.sync_workers is None and default.self_filing_hosts == ()
    assert Environment.read({"FOLLOWUP_SYNC_WORKERS": "-3"}).sync_workers == 0
    with pytest.raises(ConfigError, match="FOLLOWUP_SEND_LEASE_SECONDS"):
        Environment.read({"FOLLOWUP_SEND_LEASE_SECONDS": "soon"})


def test_the_command_line_wins_and_secrets_stay_out_of_files(tmp_path: Path) -> None:
    settings = tmp_path / "followup.toml"
    settings.write_text(OAUTH, encoding="utf-8")
    environ = {
        "FOLLOWUP_DATA_DIR": str(tmp_path / "env"),
        "FOLLOWUP_OAUTH_GOOGLE_CLIENT_SECRET": "from-env",
        "FOLLOWUP_OAUTH_MY_IDP_CLIENT_SECRET": "ignored",
    }
    runtime = Runtime.from_env(settings, data_dir=tmp_path / "flag", environ=environ)
    assert runtime.data_dir == tmp_path / "flag"
    assert str(tmp_path / "flag") in runtime.database_url
    assert runtime.config.oauth["google"].secret("google") == "from-env"
    assert runtime.config.oauth["my-idp"].secret("my-idp") == "from-the-file"
    assert runtime.job_timeout == 300.0  # [scale] job_timeout's default


def test_the_worker_gets_the_settings_in_its_ctx(tmp_path: Path) -> None:
    environ = {"FOLLOWUP_DATA_DIR": str(tmp_path), "FOLLOWUP_JOB_TIMEOUT": "15"}
    runtime = Runtime.from_env(environ=environ)
    with pytest.raises(ConfigError, match="needs Redis"):
        worker_options(runtime)
    queued = Runtime.from_env(environ={**environ, "FOLLOWUP_REDIS_URL": "redis://h:6390/2"})
    options = worker_options(queued)
    assert options["ctx"] == {"runtime": queued} and options["job_timeout"] == 15.0
    assert (options["redis_settings"].host, options["redis_settings"].port) == ("h", 6390)
    assert all(f.timeout_s == 15.0 for f in options["functions"])


def test_timeouts_must_be_positive_and_a_plain_worker_reads_the_file(tmp_path: Path) -> None:
    """0 or less is refused at start (it would silently mean "the default"); a plain
    ``arq workers.WorkerSettings`` takes ``[scale] job_timeout`` from the file, as
    ``followup worker`` does."""
    for bad in ("0", "-5"):
        with pytest.raises(ConfigError, match="above 0"):
            Environment.read({"FOLLOWUP_JOB_TIMEOUT": bad})
    config = tmp_path / "followup.toml"
    config.write_text("[scale]\njob_timeout = 42\n")
    start = Environment.read({"FOLLOWUP_CONFIG": str(config)})
    assert _plain_timeout(start) == 42.0
    assert _plain_timeout(replace(start, job_timeout=7.0)) == 7.0
    config.write_text("[scale]\njob_timeout = 'soon'\n")  # startup() reports it in one line
    assert _plain_timeout(start) == 300.0
