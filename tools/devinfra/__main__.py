"""`python -m tools.devinfra up|down|reset|serve`, from the repository's root (make infra-up, infra-down, infra-reset;
`make dev` runs `serve`)."""

from __future__ import annotations

import argparse
import os
import sys

from pet_auth.config import SettingsError, load_settings
from tools.devinfra import InfraError, down, ready, up


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.devinfra")
    parser.add_argument(
        "action",
        choices=["up", "down", "reset", "serve"],
        help="up: find or start PostgreSQL and Redis; down: stop what up started; reset: also delete their data; "
        "serve: the development server, and where things are once it answers",
    )
    args = parser.parse_args()
    try:
        settings = load_settings()
        if args.action == "serve":
            raise SystemExit(ready.serve(settings))
        if args.action == "up":
            up(settings, os.environ)
        else:
            down(delete_data=args.action == "reset")
    except (SettingsError, InfraError) as exc:
        # One line per problem, never a traceback.
        for line in str(exc).splitlines():
            print(f"pet_auth: {line}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
