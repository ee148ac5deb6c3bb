"""`python -m healthex_pipeline.sandbox --config sandbox.json` (or HEALTHEX_SANDBOX_CONFIG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from healthex_pipeline.sandbox.config import SandboxConfig
from healthex_pipeline.sandbox.server import serve


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m healthex_pipeline.sandbox")
    parser.add_argument("--config", type=Path, help="sandbox config JSON")
    args = parser.parse_args()
    serve(SandboxConfig.load(args.config) if args.config else SandboxConfig.from_env())


if __name__ == "__main__":
    main()
