"""How the process's cyclic garbage collector runs: rarely, and never over start-up objects.

A first sync or a replay builds hundreds of thousands of small records that live until the end
of the pass and hold no reference cycles worth finding early. With CPython's default thresholds
(700 allocations) the collector runs thousands of times over them and re-walks everything
alive at each full collection: about a tenth of a 100,000-message replay, measured by
``bench/core.py``. Entry points call :func:`tune_collector` once, after their imports.
"""

from __future__ import annotations

import gc

#: Allocations between young collections (CPython's default is 700), as mypy and others do.
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Move what start-up built out of the collector's sight and collect less often."""
    if gc.get_threshold()[0] == YOUNG_THRESHOLD:
        return  # tuned already (one command may import several modules)
    gc.collect()
    gc.freeze()  # imported modules and settings: alive until exit, never worth scanning
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
