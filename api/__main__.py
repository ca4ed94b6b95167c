"""`python -m api`: serve Forebear with uvicorn on FOREBEAR_HOST:FOREBEAR_PORT."""

from __future__ import annotations

import sys

import uvicorn

from api.app import create_app
from api.logs import configure_logging
from api.settings import settings_or_exit

# On SIGTERM, requests still running get this long to finish; then the process exits anyway
# (one stuck request must not keep a stopped server alive: a client resumes its upload).
GRACEFUL_SECONDS = 20


def main() -> int:
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
