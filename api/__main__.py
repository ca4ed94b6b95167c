"""`python -m api`: serve Forebear with uvicorn on FOREBEAR_HOST:FOREBEAR_PORT."""

from __future__ import annotations

import sys

import uvicorn

from api.app import create_app
from api.logs import configure_logging
from api.settings import settings_or_exit


def main() -> int:
    settings = settings_or_exit()
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
