"""A distributed job's rank messages in the PostgreSQL store (contract, 11): the ``rank_messages``
table, each row stamped by the server's clock when it is posted, so hosts whose clocks disagree still
agree on a message's age (``expire_rank_messages`` judges it by the same clock)."""

from __future__ import annotations

from typing import Any

from powertrain.store.pg_rows import SERVER_NOW
from powertrain.store.rows import message_body, message_text

#: ``drop_rank_messages`` with no ``before_seq``: above every seq a 32-bit column holds
ALL_SEQ = 2**31 - 1


class PgRankMessages:
    """The rank-message part of ``postgres.PostgresStore``: each call one statement, through the
    store's ``_call`` (its own transaction, retried on a lost connection)."""

    def _call(self, fn):  # pragma: no cover - PostgresStore's
        raise NotImplementedError

    def post_rank_message(self, channel: str, seq: int, sender: int, body: dict[str, Any]) -> None:
        text = message_text(channel, seq, sender, body)
        self._call(
            lambda c: c.execute(
                f"INSERT INTO rank_messages VALUES (%s, %s, %s, %s, {SERVER_NOW}) ON CONFLICT"
                " (channel, seq, sender) DO UPDATE SET body = EXCLUDED.body,"
                " posted_at = EXCLUDED.posted_at",
                (channel, seq, sender, text),
            )
        )

    def rank_messages(self, channel: str, seq: int) -> dict[int, dict[str, Any]]:
        rows = self._call(
            lambda c: c.execute(
                "SELECT sender, body FROM rank_messages WHERE channel = %s AND seq = %s",
                (channel, seq),
            ).fetchall()
        )
        return {sender: message_body(channel, sender, body) for sender, body in rows}

    def drop_rank_messages(self, channel: str, before_seq: int | None = None) -> None:
        self._call(
            lambda c: c.execute(
                "DELETE FROM rank_messages WHERE channel = %s AND seq < %s",
                (channel, ALL_SEQ if before_seq is None else before_seq),
            )
        )

    def expire_rank_messages(self, older_than_s: float) -> None:  # the server's clock stamped them
        sql = f"DELETE FROM rank_messages WHERE posted_at < {SERVER_NOW} - %s"
        self._call(lambda c: c.execute(sql, (older_than_s,)))
