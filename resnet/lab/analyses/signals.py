"""The lab page's per-block diagnostics of its runs: at initialisation (per configuration) and of trained weights.

Targets in ``resnet.lab.measure`` (they build or load the run's model); scope: the run.

    SIGNALS_INIT.start(store.address, run.id, config_key(run.config), {"key": config_key(run.config)})
    SIGNALS_TRAINED.start(store.address, run.id, key, {"path": str(weights), "key": config_key(run.config)})
"""

from __future__ import annotations

from . import Analysis

SIGNALS_INIT = Analysis("signals_init", "resnet.lab.measure:signals_at_init")
SIGNALS_TRAINED = Analysis("signals_trained", "resnet.lab.measure:signals_trained")
