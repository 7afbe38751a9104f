"""Runners: the long-running loops that chain the pipeline's steps (the design's "scheduler").

A runner owns time and connections, not rules: it keeps mailboxes watched, calls the
use-cases of :mod:`assistant.service` (sync, evaluate and plan, deliver, digests) when
something changed or came due, and survives one mailbox's trouble without stopping the others.

- :mod:`.run`: ``followup run``, the whole service in one process (watchers, a ticker, the
  web server).
- :mod:`.watch`: one mailbox kept synced by IMAP IDLE and cheap checks, reconnecting with
  backoff.
- :mod:`.scale_watch`: the scale-out mode's watcher loop, turning IDLE pushes into sync jobs.
- :mod:`.fleet`: the scale-out mode's shared state in Redis (heartbeats, leases, requests).

Runners may import service, web (``followup run`` starts the web server), mail, store and
core; never the command line (:mod:`assistant.cli`), which starts them.
"""
