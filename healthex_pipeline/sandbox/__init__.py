"""The vendors' sandbox: HealthEx and Fasten Connect served over real HTTP from synthetic data.

See docs/vendor-apis.md for the contract; ``running_sandbox`` in ``testing`` starts one for tests.
"""

from __future__ import annotations

from healthex_pipeline.sandbox.app import build_app
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.server import serve

__all__ = ["DelayPlan", "SandboxConfig", "build_app", "serve"]
