"""Entry points that only wire: arq WorkerSettings and IDLE watchers (arrive with the sync and
scale-out issues). No product rule lives here."""
