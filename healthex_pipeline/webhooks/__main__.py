"""``python -m healthex_pipeline.webhooks --home H --port P``; the secret comes from the env.

The secret is read from ``FASTEN_WEBHOOK_SECRET`` rather than an argument so it never shows in
a process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from healthex_pipeline.webhooks.server import serve

SECRET_ENV = "FASTEN_WEBHOOK_SECRET"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m healthex_pipeline.webhooks")
    parser.add_argument("--home", type=Path, required=True, help="HEALTHEX_HOME")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        print(f"{SECRET_ENV} is not set", file=sys.stderr)
        return 2
    serve(args.home, secret, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
