"""A private podman for the image tests: its own storage, state and settings under one folder.

No container registry is reachable here, so the image's base is bootstrapped from Debian's
packages (:func:`bootstrap_base`, mmdebstrap) and imported. Every podman command gets the
private ``--root``/``--runroot`` and a ``containers.conf`` of its own (``CONTAINERS_CONF``):
nothing is read from or left in the machine's podman state, and :meth:`Podman.stop` removes
the containers, the images and the storage.

Settings this sandbox needs (measured, see shared notes on containers): runc (crun refuses
the hybrid cgroup layout), the cgroupfs manager (no systemd), file events and locks, and
explicit ulimits (RLIMIT_NOFILE above 20000 is refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers.common import ManagedServer, find_binary, wait_pids_gone

SUITE = "bookworm"
# What the Dockerfile needs of a base, as python:3.11-slim has it: Python 3.11 with venv (its
# pip wheel), CA certificates, the time zone database (zoneinfo reads it: without it even
# "UTC" is unknown), /etc/services (netbase), useradd (passwd). merged-usr: the usr-is-merged
# layout without the usrmerge package (which pulls in Perl, ~50 MB); docs, man pages and
# translations left out.
MMDEBSTRAP_ARGS = (
    "--variant=essential",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--include=python3,python3-venv,ca-certificates,tzdata,netbase,passwd",
    '--aptopt=Acquire::Languages "none"',
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    SUITE,
)
HOST_CA_CANDIDATES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{state}/events.log"
tmp_dir = "{state}/libpod"
lock_type = "file"

[network]
network_config_dir = "{state}/networks"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{runroot}"
"""


def host_ca_bundle() -> Path | None:
    """The CA bundle this machine's pip trusts (TLS to the registries may pass through a
    proxy whose CA only the host knows), for the build only; None when there is none."""
    candidates = [os.environ.get(name) for name in HOST_CA_CANDIDATES]
    candidates.append(ssl.get_default_verify_paths().cafile)
    candidates.append("/etc/ssl/certs/ca-certificates.crt")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def clean_env() -> dict[str, str]:
    """The environment without libfaketime (CI's year-ahead pass) or a Python venv's hooks."""
    return {
        k: v
        for k, v in os.environ.items()
        if k != "LD_PRELOAD" and "FAKE" not in k and not k.startswith("PYTHON")
    }


def bootstrap_base(cache_dir: Path, work_dir: Path, timeout: float = 240.0) -> Path:
    """A root filesystem tarball of Debian ``SUITE`` for the image's base, from Debian's
    packages (mmdebstrap, ~110 MB). Kept in ``cache_dir`` under a name made from its
    arguments, so later runs reuse it; other (stale) tarballs there are removed."""
    key = hashlib.sha256("\0".join(MMDEBSTRAP_ARGS).encode()).hexdigest()[:12]
    tarball = cache_dir / f"base-{SUITE}-{key}.tar"
    if tarball.is_file():
        return tarball
    mmdebstrap = find_binary("mmdebstrap", "mmdebstrap")
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob("base-*.tar"):  # made with other arguments
        stale.unlink(missing_ok=True)
    for partial in cache_dir.glob("base-*.partial"):  # a killed run's (not a running one's)
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > 3600:
                partial.unlink()
    handle, name = tempfile.mkstemp(prefix=tarball.name, suffix=".partial", dir=cache_dir)
    os.close(handle)
    partial = Path(name)
    log = work_dir / "mmdebstrap.log"
    env = {**clean_env(), "TMPDIR": str(work_dir)}  # its chroot, removed by it or with us
    try:
        with log.open("w") as out:
            done = subprocess.run(
                [mmdebstrap, "--format=tar", *MMDEBSTRAP_ARGS, str(partial)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"mmdebstrap exited {done.returncode}:\n{tail}")
        partial.chmod(0o644)
        partial.replace(tarball)  # atomic: a concurrent run sees all of it or nothing
    finally:
        partial.unlink(missing_ok=True)
    return tarball


class Podman(ManagedServer):
    """podman with private storage, state and settings under ``base_dir``."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.root = self.base_dir / "storage"
        self.state = self.base_dir / "run"
        self.tmp = self.base_dir / "tmp"
        self.binary = ""
        self.env: dict[str, str] = {}

    def start(self) -> Podman:
        """Write the settings and check that podman runs with them."""
        self.binary = find_binary("podman", "podman")
        find_binary("runc", "runc")
        for directory in (self.root, self.state, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)
        conf = self.base_dir / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(state=self.state))
        storage = self.base_dir / "storage.conf"
        storage.write_text(STORAGE_CONF.format(root=self.root, runroot=self.state / "storage"))
        self.env = {
            **clean_env(),
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
            "CONTAINERS_REGISTRIES_CONF": str(self.base_dir / "registries.conf"),
            "TMPDIR": str(self.tmp),  # build contexts and image copies
        }
        (self.base_dir / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.run("info", timeout=60)
        return self

    def command(self, *args: str) -> list[str]:
        """A podman command line on the private storage (flags as well as storage.conf, so
        nothing can fall back to the machine's)."""
        return [
            self.binary,
            "--root",
            str(self.root),
            "--runroot",
            str(self.state / "storage"),
            "--storage-driver",
            "overlay",
            *args,
        ]

    def run(
        self, *args: str, timeout: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one podman command; its output. Fails with the output when ``check``."""
        done = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def logs(self, name: str) -> str:
        """A container's output (the last 60 lines), for failure messages."""
        done = self.run("logs", "--tail", "60", name, check=False)
        return f"--- {name}:\n{done.stdout}{done.stderr}"

    def stop(self) -> None:
        """Remove every container and image, then the storage itself."""
        if self.binary and self.root.exists():
            self.run("rm", "--all", "--force", "--time", "5", timeout=120, check=False)
            self.run("rmi", "--all", "--force", timeout=120, check=False)
        self._reap_monitors()
        self._unmount_leftovers()
        for directory in (self.root, self.state, self.tmp):
            shutil.rmtree(directory, ignore_errors=True)

    def _reap_monitors(self) -> None:
        """conmon processes of our containers still running (they are gone after rm)."""
        import psutil

        ours = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["name"] == "conmon" and str(self.state) in " ".join(
                    proc.info["cmdline"] or []
                ):
                    ours.append(proc.pid)
        wait_pids_gone(ours, timeout=5)

    def _unmount_leftovers(self) -> None:
        """Overlay and shm mounts under ``base_dir`` that podman did not take down."""
        mounts = []
        with open("/proc/self/mountinfo") as info:
            for line in info:
                point = line.split()[4].replace("\\040", " ")
                if point == str(self.base_dir) or point.startswith(f"{self.base_dir}/"):
                    mounts.append(point)
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
