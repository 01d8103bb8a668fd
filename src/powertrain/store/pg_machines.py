"""The PostgreSQL store's rows that belong to no run: each machine's idle power (``idle``), the GPU
power limit journal (``power_limits``, contract 8) and each study's live search cost
(``search_costs``, contract 10). Each write is one statement that doing twice leaves as doing once
(the session retries it on a lost connection)."""

from __future__ import annotations

import json
import time
from typing import Any


class PgMachineRows:
    """The per-machine and per-study rows of ``postgres.PostgresStore``, through its ``_call``."""

    def _call(self, fn):  # pragma: no cover - PostgresStore's
        raise NotImplementedError

    def save_idle(self, host: str, measurement: dict[str, Any]) -> None:
        self._call(
            lambda c: c.execute(
                "INSERT INTO idle VALUES (%s, %s, %s) ON CONFLICT (host, measured_at)"
                " DO UPDATE SET measurement = EXCLUDED.measurement",
                (host, measurement["measured_at"], json.dumps(measurement)),
            )
        )

    def idle(self, host: str) -> dict[str, Any] | None:
        row = self._call(
            lambda c: c.execute(
                "SELECT measurement FROM idle WHERE host = %s ORDER BY measured_at DESC LIMIT 1",
                (host,),
            ).fetchone()
        )
        return json.loads(row[0]) if row else None

    def idles(self) -> list[dict[str, Any]]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT host, measurement FROM idle ORDER BY host, measured_at"
            ).fetchall()
        )
        return [{"host": h, **json.loads(m)} for h, m in rows]

    def pending_power_limits(self) -> dict[str, float]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT gpu_uuid, previous_w FROM power_limits ORDER BY gpu_uuid"
            ).fetchall()
        )
        return dict(rows)

    def note_power_limit(self, gpu_uuid: str, previous_w: float | None) -> None:
        if previous_w is None:
            sql, args = "DELETE FROM power_limits WHERE gpu_uuid = %s", (gpu_uuid,)
        else:  # the first note holds: it is the limit from before any run changed it
            sql = "INSERT INTO power_limits VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
            args = (gpu_uuid, float(previous_w), time.time())
        self._call(lambda c: c.execute(sql, args))

    def save_search_cost(self, study: str, cost: dict[str, Any]) -> None:
        self._call(
            lambda c: c.execute(
                "INSERT INTO search_costs VALUES (%s, %s, %s) ON CONFLICT (study)"
                " DO UPDATE SET cost = EXCLUDED.cost, saved_at = EXCLUDED.saved_at",
                (study, json.dumps(cost, allow_nan=False), time.time()),
            )
        )

    def search_costs(self) -> dict[str, dict[str, Any]]:
        rows = self._call(
            lambda c: c.execute("SELECT study, cost FROM search_costs ORDER BY study").fetchall()
        )
        return {study: json.loads(cost) for study, cost in rows}
