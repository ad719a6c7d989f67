"""The one exception users see.

Every error caused by a user's input (config, files, command-line values) is raised as
:class:`MiglinkError` with a single-line message that names the file, and where it applies
the row and the column or key. The command line prints it as ``miglink: error: <message>``
and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations


class MiglinkError(Exception):
    """A user-facing error with a one-line message."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        parts = []
        if file is not None:
            parts.append(str(file))
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column!r}")
        prefix = ", ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        # keep it to one line whatever the caller passed
        text = " ".join(str(text).split())
        super().__init__(text)
        self.file, self.row, self.column = file, row, column


class EstimateDoesNotExist(MiglinkError):
    """A statistical estimate that does not exist (e.g. MSE MLE non-existence)."""
