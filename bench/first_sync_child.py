"""The processes ``bench/first_sync.py`` times, besides ``followup sync`` itself.

Run as ``python bench/first_sync_child.py MODE SPEC_JSON``; the result is written as JSON to
``spec["out"]``. Each mode imports what it needs inside its function, so a floor process
starts with Python and imapclient only (floor 2 adds the product's reader module), never with
this benchmark or the product's service:

- ``imapclient`` (floor 1): login, then per folder EXAMINE, ``UID SEARCH ALL`` and ``UID
  FETCH (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (11 common fields)])`` in batches of
  ``spec["batch"]`` UIDs through imapclient's own ``fetch()`` (its defaults), results dropped.
- ``raw`` (floor 2): the same session shape with CONDSTORE enabled, asking the product's own
  item (``UID FLAGS INTERNALDATE`` + ``HEADER_ITEM`` + ``MODSEQ``, passed in the spec) and
  reading it with the product's fast reader (``fetchparse.uid_fetch`` + ``read_fetch``): no
  header parsing, nothing stored.
- ``stages``: ``followup sync NAME`` exactly as the console script runs it
  (``assistant.cli:main``), with timers wrapped around a few of the product's functions; it
  notes monotonic times (``CLOCK_MONOTONIC``, comparable with the parent's) at each stage.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import time
from collections.abc import Callable
from typing import Any

#: The 11 header fields of floor 1: what a plain client would ask for a thread view.
COMMON_FIELDS = (
    "FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES REPLY-TO CONTENT-TYPE AUTO-SUBMITTED"
)


def floor_imapclient(spec: dict[str, Any]) -> dict[str, Any]:
    """Floor 1: plain imapclient, 11 common header fields."""
    from imapclient import IMAPClient

    items = ["UID", "FLAGS", "INTERNALDATE", f"BODY.PEEK[HEADER.FIELDS ({COMMON_FIELDS})]"]
    imap = IMAPClient(spec["host"], spec["port"], ssl=False, timeout=300)
    imap.login(spec["user"], spec["password"])
    fetched = 0
    batch = int(spec["batch"])
    for folder in spec["folders"]:
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        for start in range(0, len(uids), batch):
            fetched += len(imap.fetch(uids[start : start + batch], items))
        imap.unselect_folder()
    imap.logout()
    return {"fetched": fetched}


def floor_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """Floor 2: the product's FETCH item read by the product's fast reader, nothing else."""
    from imapclient import IMAPClient

    from assistant.mail.fetchparse import read_fetch, sequence_set, uid_fetch

    query = f"(UID FLAGS INTERNALDATE {spec['header_item']} MODSEQ)"
    imap = IMAPClient(spec["host"], spec["port"], ssl=False, timeout=300)
    imap.login(spec["user"], spec["password"])
    imap.enable("CONDSTORE")
    fetched = 0
    batch = int(spec["batch"])
    for folder in spec["folders"]:
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        for start in range(0, len(uids), batch):
            data = uid_fetch(imap._imap, sequence_set(uids[start : start + batch]), query)
            fetched += sum(1 for _ in read_fetch(data))
        imap.unselect_folder()
    imap.logout()
    return {"fetched": fetched}


#: What the stage run wraps: (module, attribute, label). Missing ones are skipped and named
#: in the result (the service is being restructured; the stages must not depend on it).
STAGE_PROBES: tuple[tuple[str, str, str], ...] = (
    ("assistant.cli.mailbox", "sync_and_evaluate", "sync_mailbox"),
    ("assistant.service.ingest", "_fetch_list", "UID FETCH + read (thread)"),
    ("assistant.service.ingest", "store_batch", "store batches"),
    ("assistant.service.pipeline", "reevaluate", "reevaluate"),
    ("assistant.service.evaluate", "link_groups", "  link_groups"),
    ("assistant.service.evaluate", "load_group", "  load_group (re-read rows)"),
    ("assistant.service.evaluate", "_thread_group", "  _thread_group (threading)"),
    ("assistant.service.evaluate", "thread_messages", "    thread_messages"),
    ("assistant.service.evaluate", "existing_records", "  existing_records (ThreadRecords)"),
    ("assistant.service.evaluate", "_Pass._evaluate", "  _Pass._evaluate (state, owner)"),
    ("assistant.service.evaluate", "_set_thread_ids", "    _set_thread_ids (in _write)"),
    ("assistant.service.evaluate", "_write", "  _write"),
)


class Marks:
    """First entry, last exit and summed seconds per label; monotonic times."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def done(self, label: str, t0: float) -> None:
        """Count one call of ``label`` that started at ``t0``."""
        now = time.monotonic()
        self.first.setdefault(label, t0)
        self.last[label] = now
        self.seconds[label] = self.seconds.get(label, 0.0) + now - t0
        self.calls[label] = self.calls.get(label, 0) + 1

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed under ``label`` (awaited when it is a coroutine function)."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                t0 = time.monotonic()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.done(label, t0)

            return timed_async

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.done(label, t0)

        return timed


def install(marks: Marks) -> list[str]:
    """Wrap :data:`STAGE_PROBES` in place; return the ones not found."""
    missing = []
    for module_name, attr, label in STAGE_PROBES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")  # "Class.method" wraps on the class
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None)
        if original is None:
            missing.append(f"{module_name}.{attr}")
            continue
        setattr(owner, name, marks.wrap(label, original))
    return missing


def stages(spec: dict[str, Any]) -> dict[str, Any]:
    """``followup sync`` through ``assistant.cli:main`` with stage timers."""
    python_up = time.monotonic()
    import assistant.cli

    marks = Marks()
    missing = install(marks)
    imported = time.monotonic()
    sys.argv = ["followup", *spec["argv"]]
    code: Any = 0
    try:
        assistant.cli.main()
    except SystemExit as exc:
        code = exc.code
    return {
        "python_up": python_up,
        "imported": imported,
        "main_done": time.monotonic(),
        "first": marks.first,
        "last": marks.last,
        "seconds": marks.seconds,
        "calls": marks.calls,
        "missing": missing,
        "code": code,
    }


MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "imapclient": floor_imapclient,
    "raw": floor_raw,
    "stages": stages,
}


def main() -> int:
    """Run one mode; write its JSON result to ``spec["out"]``."""
    spec = json.loads(sys.argv[2])
    result = MODES[sys.argv[1]](spec)
    result["child_done"] = time.monotonic()
    with open(spec["out"], "w") as out:
        json.dump(result, out)
    code = result.get("code", 0)
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
