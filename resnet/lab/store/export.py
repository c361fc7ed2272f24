"""The run export format (``EXPORT_FORMAT``): the reference-run files in ``assets/reference_runs``, and CSV of curves."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

from ..config import TrainConfig, config_key, upgrade_stored
from .db import no_nan
from .runs import METRIC_COLUMNS, Runs

EXPORT_FORMAT = "resnet-lab-run/1"


class Export(Runs):
    """A store's runs in and out as files."""

    def export_run(self, run_id: int) -> dict[str, Any]:
        """A run and its curve as a JSON-able dict (the reference-run file format)."""
        run = self.get_run(run_id)
        return {
            "format": EXPORT_FORMAT,
            "label": run.label,
            "config": run.config,
            "status": run.status,
            "stuck_at_chance": run.stuck_at_chance,
            "result": run.result,
            "metrics": self.metrics(run_id),
        }

    def import_run(self, data: dict[str, Any], *, source: str = "reference") -> int:
        """Add an exported run; importing the same config from the same source again is a no-op.

        An export from before ``downsample`` existed is read as option B, and labelled so.
        """
        if data.get("format") != EXPORT_FORMAT:
            raise ValueError(f"not a ResNet Lab run export (format {data.get('format')!r}, expected {EXPORT_FORMAT!r})")
        config = upgrade_stored(data["config"])
        config_json, label = config_key(config), TrainConfig.from_dict(config).label
        metrics = data["metrics"]
        with self._tx(immediate=True) as con:
            row = con.execute("SELECT id FROM runs WHERE config = ? AND source = ?", (config_json, source)).fetchone()
            if row is not None:
                return int(row["id"])
            run_id = self._insert(con, config_json, label, source, data["status"])
            con.execute(
                "UPDATE runs SET stuck_at_chance = ?, result = ?, started_at = created_at, finished_at = created_at WHERE id = ?",
                (int(data["stuck_at_chance"]), json.dumps(data["result"]), run_id),
            )
            con.executemany(
                "INSERT INTO metrics (run_id, step, wall_s, train_loss, test_loss, test_acc) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *map(no_nan, values)) for values in zip(*(metrics[c] for c in METRIC_COLUMNS))],
            )
        return run_id

    def metrics_csv(self, run_ids: Iterable[int]) -> str:
        """CSV of the given runs' curves, one row per run and step."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["run_id", "label", *METRIC_COLUMNS])
        for run_id in run_ids:
            label = self.get_run(run_id).label
            columns = self.metrics(run_id)
            for values in zip(*(columns[c] for c in METRIC_COLUMNS)):
                writer.writerow([run_id, label, *("" if v is None else v for v in values)])
        return out.getvalue()
