"""Errors that reach the user as one line naming the problem and the fix."""


class EdgekitError(Exception):
    """A user-facing failure: the message says what is wrong and how to fix it.

    The CLI prints ``edgekit: error: <message>`` and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(EdgekitError):
    """Bad configuration: a target profile, a budgets file, a CLI option."""


class ModelError(EdgekitError):
    """A model that cannot be read or is not supported."""


class BuildError(EdgekitError):
    """A build step failed (including a failed accuracy gate)."""


class SensorError(EdgekitError):
    """A sensor that is missing, unreadable or reports nonsense."""
