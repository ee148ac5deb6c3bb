"""The sandbox's Starlette app: both vendors' APIs and the control routes on one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from healthex_pipeline.sandbox import control, fasten_api, healthex_api
from healthex_pipeline.sandbox.config import SandboxConfig
from healthex_pipeline.sandbox.delivery import Scheduler
from healthex_pipeline.sandbox.population import build_pools
from healthex_pipeline.sandbox.state import SandboxState


def build_app(config: SandboxConfig) -> Starlette:
    """Generate the population, then serve it; background deliveries live with the lifespan."""
    state = SandboxState(config, build_pools(config.n_users, config.seed, config.delays))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler = Scheduler(state)
        app.state.scheduler = scheduler
        scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()

    app = Starlette(
        routes=[*healthex_api.routes, *fasten_api.routes, *control.routes], lifespan=lifespan
    )
    app.state.sandbox = state
    app.state.faults = state.faults
    return app
