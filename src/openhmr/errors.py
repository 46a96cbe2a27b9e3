"""The project's exception type: every bad input raises one of these with a clear message."""


class OpenHMRError(Exception):
    """A bad input (missing file, wrong format, wrong shape, ...): the message names what was
    expected and what was found. The CLI prints it on one line and exits non-zero."""
