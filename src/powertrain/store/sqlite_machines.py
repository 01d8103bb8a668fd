"""The SQLite store's rows that belong to no run: each machine's idle power (``idle``), the GPU power
limit journal (``power_limits``, contract 8) and each study's live search cost (``search_costs``,
contract 10)."""

from __future__ import annotations

import json
import time
from typing import Any


class SqliteMachineRows:
    """The per-machine and per-study rows of ``sqlite.SqliteStore``: writes through its
    ``_transaction()``, reads on its ``db``."""

    def save_idle(self, host: str, measurement: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO idle VALUES (?, ?, ?)",
                (host, measurement["measured_at"], json.dumps(measurement)),
            )

    def idle(self, host: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT measurement FROM idle WHERE host = ? ORDER BY measured_at DESC LIMIT 1", (host,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def idles(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT host, measurement FROM idle ORDER BY host, measured_at")
        return [{"host": h, **json.loads(m)} for h, m in rows.fetchall()]

    def pending_power_limits(self) -> dict[str, float]:
        rows = self.db.execute("SELECT gpu_uuid, previous_w FROM power_limits ORDER BY gpu_uuid")
        return {uuid: previous_w for uuid, previous_w in rows.fetchall()}

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        with self._transaction() as db:
            if previous_w is None:
                db.execute("DELETE FROM power_limits WHERE gpu_uuid = ?", (gpu_uuid,))
            else:  # the first note holds: it is the limit from before any run changed it
                db.execute(
                    "INSERT OR IGNORE INTO power_limits VALUES (?, ?, ?)",
                    (gpu_uuid, float(previous_w), time.time()),
                )

    def save_search_cost(self, study: str, cost: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO search_costs VALUES (?, ?, ?)",
                (study, json.dumps(cost, allow_nan=False), time.time()),
            )

    def search_costs(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute("SELECT study, cost FROM search_costs ORDER BY study")
        return {study: json.loads(cost) for study, cost in rows.fetchall()}
