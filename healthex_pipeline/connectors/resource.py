"""What every vendor client resource shares: where the vendor is, timeouts, and retry limits."""

from __future__ import annotations

import dagster as dg
import httpx
from pydantic import PrivateAttr

from healthex_pipeline.connectors.http import RetryPolicy


class VendorResource(dg.ConfigurableResource):
    """Base of the vendor clients; holds one lazily created ``httpx.Client`` per instance."""

    base_url: str
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_attempts: int = 5
    retry_budget_seconds: float = 120.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 10.0
    backoff_jitter_seconds: float = 1.0
    retry_after_max_seconds: float = 60.0

    _client: httpx.Client | None = PrivateAttr(default=None)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.max_attempts,
            budget_seconds=self.retry_budget_seconds,
            wait_initial=self.backoff_initial_seconds,
            wait_max=self.backoff_max_seconds,
            wait_jitter=self.backoff_jitter_seconds,
            retry_after_max=self.retry_after_max_seconds,
        )

    def http(self) -> httpx.Client:
        """The connection pool, created on first use so constructing a resource stays free."""
        if self._client is None:
            timeout = httpx.Timeout(self.read_timeout_seconds, connect=self.connect_timeout_seconds)
            self._client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=timeout)
        return self._client

    def close(self) -> None:
        """Release the connection pool (a later call opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
