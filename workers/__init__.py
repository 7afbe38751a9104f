"""Entry points of the scale-out mode: arq ``WorkerSettings`` and the IDLE watcher.

``arq workers.WorkerSettings`` (or ``followup worker``) runs the jobs; ``followup watch
--workers N`` runs the watchers. They only wire: every rule lives in ``assistant/``.
"""

from .settings import WorkerSettings

__all__ = ["WorkerSettings"]
