"""`python -m api`: serve Forebear with uvicorn on FOREBEAR_HOST:FOREBEAR_PORT."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from api.app import create_app
from api.logs import configure_logging
from api.settings import Settings, describe_errors


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"forebear: invalid settings:\n{describe_errors(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
