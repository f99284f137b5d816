"""Exception types for errors a user can cause (bad files, bad configs, bad arguments)."""

from __future__ import annotations

from pathlib import Path


class PhmError(Exception):
    """Base class: an error the user can fix; the CLI prints it without a traceback."""


class DataFormatError(PhmError, ValueError):
    """A data file does not have the layout we expect.

    The message always names the file and, where one is at fault, the column or field and
    what was expected there.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = str(path)
        self.column = column
        self.expected = expected
        where = f"{self.path}"
        if column is not None:
            where += f", column {column!r}"
        message = f"{where}: {problem}"
        if expected is not None:
            message += f" (expected {expected})"
        super().__init__(message)


class ConfigError(PhmError, ValueError):
    """A configuration file or flag has a bad value; the message names the field."""


class NotFittedError(PhmError, RuntimeError):
    """An estimator was used before `fit`."""
