"""A distributed job's rank messages in the SQLite store (contract, 11): the ``rank_messages`` table,
each row stamped by the posting process's clock; the processes that share a SQLite file are one
machine's, so that is one clock (a step on several nodes is refused: ``tracking/links.py``)."""

from __future__ import annotations

import time
from typing import Any

from powertrain.store.rows import message_body, message_text


class SqliteRankMessages:
    """The rank-message part of ``sqlite.SqliteStore``: writes through its ``_transaction()``, reads
    on its ``db``."""

    def post_rank_message(self, channel: str, seq: int, sender: int, body: dict[str, Any]) -> None:
        text = message_text(channel, seq, sender, body)
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO rank_messages VALUES (?, ?, ?, ?, ?)",
                (channel, seq, sender, text, time.time()),
            )

    def rank_messages(self, channel: str, seq: int) -> dict[int, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT sender, body FROM rank_messages WHERE channel = ? AND seq = ?", (channel, seq)
        )
        return {sender: message_body(channel, sender, body) for sender, body in rows.fetchall()}

    def drop_rank_messages(self, channel: str, before_seq: int | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM rank_messages WHERE channel = ? AND (? IS NULL OR seq < ?)",
                (channel, before_seq, before_seq),
            )

    def expire_rank_messages(self, older_than_s: float) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM rank_messages WHERE posted_at < ?", (time.time() - older_than_s,)
            )
