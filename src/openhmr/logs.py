"""Hiding specific messages of the libraries we use that are not the user's business (an
exporter note about an optional package we never use, an advertisement), one message at a
time: every other log record passes."""

from __future__ import annotations

import logging


class _DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def drop_log_messages(logger_name: str, *prefixes: str) -> None:
    """Drop the records of logger `logger_name` whose message starts with one of `prefixes`
    (idempotent: a second call with the same prefixes adds nothing)."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, _DropMessages) and existing.prefixes == prefixes:
            return
    logger.addFilter(_DropMessages(prefixes))
