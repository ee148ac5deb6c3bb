"""Account id → opaque pseudonym, the only place the two are linked.

The pseudonym is HMAC-SHA256 of the account id under a registry-wide secret and a per-account
random salt. The salt row is what a deletion destroys: without it the pseudonym cannot be
recomputed, even by someone holding the secret, so keys left in Dagster's records are unlinkable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from healthex_pipeline.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    salt BLOB NOT NULL,
    user_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"""

USER_KEY_PATTERN = r"^u_[0-9a-f]{24}$"


class PseudonymRegistry:
    """SQLite-backed mapping; safe to open from several processes (SQLite serialises writers)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self._path) as con:
            con.executescript(_SCHEMA)
            con.execute(
                "INSERT OR IGNORE INTO registry_secret (id, secret) VALUES (1, ?)",
                (secrets.token_bytes(32),),
            )

    def user_key(self, account_id: str) -> str:
        """Return the account's pseudonym, registering the account on first sight."""
        return self.user_keys([account_id])[0]

    def user_keys(self, account_ids: Sequence[str]) -> list[str]:
        """Pseudonyms of many accounts, registering new ones, in one transaction (bulk sign-up)."""
        if any(not a.strip() for a in account_ids):
            raise ValueError("account id is empty")
        select = "SELECT user_key FROM accounts WHERE account_id = ?"
        keys = []
        with connect(self._path) as con:
            (secret,) = con.execute("SELECT secret FROM registry_secret").fetchone()
            for account_id in account_ids:
                row = con.execute(select, (account_id,)).fetchone()
                if row is None:
                    salt = secrets.token_bytes(16)
                    digest = hmac.new(secret, salt + account_id.encode(), hashlib.sha256)
                    # OR IGNORE: if another process registered the account meanwhile, its key
                    # stands.
                    con.execute(
                        "INSERT OR IGNORE INTO accounts (account_id, salt, user_key, created_at) "
                        "VALUES (?, ?, ?, ?)",
                        (
                            account_id,
                            salt,
                            f"u_{digest.hexdigest()[:24]}",
                            datetime.now(UTC).isoformat(),
                        ),
                    )
                    row = con.execute(select, (account_id,)).fetchone()
                keys.append(str(row[0]))
        return keys

    def is_registered(self, user_key: str) -> bool:
        """Whether a pseudonym belongs to a live account (deliveries to others are refused)."""
        with connect(self._path) as con:
            row = con.execute("SELECT 1 FROM accounts WHERE user_key = ?", (user_key,)).fetchone()
        return row is not None

    def lookup(self, account_id: str) -> str | None:
        """The pseudonym of a registered account, or None; never registers."""
        with connect(self._path) as con:
            row = con.execute(
                "SELECT user_key FROM accounts WHERE account_id = ?", (account_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def forget(self, user_key: str) -> int:
        """Destroy the account row (and its salt): the pseudonym can never be linked again."""
        with connect(self._path) as con:
            return con.execute("DELETE FROM accounts WHERE user_key = ?", (user_key,)).rowcount
