"""The logging configuration of ``semclust serve`` (the library itself never configures
logging: only this program entry point does).
"""

from __future__ import annotations

from typing import Any

from semclust.errors import InvalidArgumentError

__all__ = ["LOG_LEVELS", "log_config"]

#: The log levels ``semclust serve --log-level`` accepts.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def log_config(level: str) -> dict[str, Any]:
    """The logging configuration :func:`serve` installs: semclust's and uvicorn's messages,
    one line each with a time stamp, on stderr, at ``level``; uvicorn's own access log is off
    (the request guard logs every request with its request id instead).
    """
    if level not in LOG_LEVELS:
        raise InvalidArgumentError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    logger_conf = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {"semclust": logger_conf, "uvicorn": logger_conf,
                    "uvicorn.access": {"handlers": [], "propagate": False}},
    }
