"""One exception hierarchy for the whole service.

Every message is written for the person who has to fix the cause: it names the
place (file, key, tab, cell) and says what valid input looks like. The CLI prints
``str(error)`` as one line and exits with ``error.exit_code``.
"""

from __future__ import annotations


class OpsSheetsError(Exception):
    """Base of every error the service raises on purpose."""

    #: 2 = configuration or usage error (the user must change something);
    #: 1 = the run failed for a reason that may pass (a lock, a network outage).
    exit_code = 2


class ConfigError(OpsSheetsError):
    """The config file is missing, malformed or holds an invalid value."""


class UsageError(OpsSheetsError):
    """The command line asks for something that cannot be done."""


class ImportFileError(UsageError):
    """A store's export file cannot be read: wrong encoding, cut short, unknown layout.

    ``filename``, ``line`` (physical line where the record starts, 1-based) and
    ``column`` (the header as the file shows it) say where; any may be unknown.
    """

    def __init__(
        self, message: str, *, filename: str, line: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.column = column


class WorkbookError(OpsSheetsError):
    """The workbook cannot be read or written."""

    exit_code = 1


class WorkbookLockedError(WorkbookError):
    """Someone has the workbook open in Excel or LibreOffice (or another run holds it)."""


class UnsupportedContentError(WorkbookError):
    """Saving would silently drop content (charts, images, pivot tables...)."""

    exit_code = 2


class SheetAccessError(WorkbookError):
    """The spreadsheet does not exist or is not shared with the service."""

    exit_code = 2


class TemplateError(OpsSheetsError):
    """An email template is missing, invalid, or uses an undefined variable."""


class AddressError(OpsSheetsError):
    """An email address or header value is invalid or unsafe."""


class TransportError(OpsSheetsError):
    """Mail could not be handed to the transport."""

    exit_code = 1


class LedgerError(OpsSheetsError):
    """The message ledger (state database) cannot be used as asked."""


class JobError(OpsSheetsError):
    """A job failed in a way that is not one of the above."""

    exit_code = 1
