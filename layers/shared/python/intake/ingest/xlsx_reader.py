"""Excel (.xlsx): the rows of one sheet, streamed in bounded memory, as the CSV reader gives them.

The reader yields `(row_number, cells)` with one cell per header column, or a located
RowError, and knows nothing of fields: `columns` is the header as written, `sheet` the sheet
read (both set once iteration has started); the import type's mapping decides the rest.

openpyxl in read-only mode parses the sheet's XML as a stream. What it would otherwise hold
whole is bounded here:
- the container is checked against the import type's archive limits before openpyxl opens it
  (member count, declared sizes, compression ratio, names); zipfile never inflates a member
  past its declared size, so the declared sizes bound what comes out;
- every part openpyxl reads whole (content types, workbook, relationships, styles, theme,
  properties) is capped at MAX_PART_BYTES;
- the shared-strings table (Excel keeps every text cell there) is held compactly, one UTF-8
  buffer and 8 bytes of offset a string, instead of openpyxl's list of Python strings (about
  six times the XML's size, and slow to build), and capped at MAX_SHARED_STRINGS_BYTES of XML;
- sheet dimensions are not trusted (a writer that records `A1` would silently cut the rows in
  read-only mode) and not computed either (openpyxl parses a sheet without a `<dimension>`
  whole, at load, to size it).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from array import array
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import IO, Any
from xml.etree.ElementTree import ParseError, iterparse

from openpyxl.reader.excel import ExcelReader
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

from intake.ingest import media
from intake.ingest.archive import ArchiveLimits, MiB, breach, open_archive
from intake.ingest.records import FileLevelError, ReadEvent
from intake.ingest.sniff import SNIFF_BYTES, content_mismatch
from intake.models.domain import RowError

# Excel's own sheet limits: a row number past them comes from a crafted file, and is refused
# before openpyxl's gap filling could yield empty rows up to it.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
# Parts openpyxl parses whole. Real ones are kilobytes; a styles.xml bloated by years of
# copy-paste reaches a few MB.
MAX_PART_BYTES = 32 * MiB
# The shared-strings XML: held compactly, at most about this much memory. A 1,048,576-row
# sheet of ten unique 15-character text columns has about 330 MB of it.
MAX_SHARED_STRINGS_BYTES = 512 * MiB

_SI = f"{{{SHEET_MAIN_NS}}}si"
_T = f"{{{SHEET_MAIN_NS}}}t"
_R = f"{{{SHEET_MAIN_NS}}}r"
# OOXML escapes characters XML cannot hold (and a literal `_xHHHH_`) as `_xHHHH_`.
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_MIDNIGHT = time(0, 0)
# What a broken workbook makes openpyxl, zipfile or the XML parser raise. Not ObjectReadError
# (S3 did not deliver the bytes): that one must reach the worker, which retries the run.
_UNREADABLE = (
    InvalidFileException,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ParseError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    OSError,
)

Cell = str | bool | date | time | datetime


def column_letter(index0: int) -> str:
    """The column as Excel names it: 0 -> A, 26 -> AA."""
    return str(get_column_letter(index0 + 1))


class XlsxRecords:
    """The rows of one sheet of a workbook as `(row_number, cells)`, cells in `columns` order.

    The header is the sheet's first non-empty row; fully empty rows are skipped; a row shorter
    than the header is padded with "", and a value right of the header is a
    `wrong_column_count` error for that row.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        sheet: str | None = None,
        limits: ArchiveLimits,
        max_shared_strings: int = MAX_SHARED_STRINGS_BYTES,
        max_part: int = MAX_PART_BYTES,
    ) -> None:
        self._stream = stream
        self._wanted = sheet
        self._limits = limits
        self._max_strings = max_shared_strings
        self._max_part = max_part
        self.columns: tuple[str, ...] | None = None
        self.sheet: str | None = None

    def __iter__(self) -> Iterator[ReadEvent]:
        self._check_container()
        book = self._open()
        try:
            worksheet = self._select(book)
            self.sheet = worksheet.title
            worksheet.reset_dimensions()
            yield from self._records(worksheet.iter_rows(values_only=True))
        except _UNREADABLE as exc:
            raise FileLevelError(_unreadable(exc, self.sheet)) from exc
        finally:
            book.close()

    def _check_container(self) -> None:
        self._stream.seek(0)
        head = self._stream.read(SNIFF_BYTES)
        reason = content_mismatch(head, media.XLSX)
        if reason:
            raise FileLevelError(RowError(code="invalid_workbook", message=reason))
        with open_archive(self._stream, self._limits) as archive:
            names = archive.names
        if "[Content_Types].xml" not in names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise FileLevelError(
                RowError(
                    code="invalid_workbook",
                    message=f"the ZIP archive is not an Excel workbook: it holds {shown}",
                )
            )

    def _open(self) -> Any:
        try:
            reader = _WorkbookReader(
                self._stream, max_part=self._max_part, max_strings=self._max_strings
            )
        except _UNREADABLE as exc:
            raise FileLevelError(_unreadable(exc, None)) from exc
        try:
            reader.read()
        except FileLevelError:
            reader.archive.close()
            raise
        except _UNREADABLE as exc:
            reader.archive.close()
            raise FileLevelError(_unreadable(exc, None)) from exc
        return reader.wb

    def _select(self, book: Any) -> Any:
        sheets = book.worksheets
        if not sheets:
            raise FileLevelError(
                RowError(code="sheet_not_found", message="the workbook has no worksheet")
            )
        if self._wanted is None:
            # The first tab a person sees: a hidden first sheet is usually a lookup table.
            return next((ws for ws in sheets if ws.sheet_state == "visible"), sheets[0])
        exact = [ws for ws in sheets if ws.title == self._wanted]
        if exact:
            return exact[0]
        folded = [ws for ws in sheets if ws.title.casefold() == self._wanted.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        listed = ", ".join(repr(ws.title) for ws in sheets)
        raise FileLevelError(
            RowError(
                code="sheet_not_found",
                message=f"the workbook has no sheet {self._wanted!r}; its sheets: {listed}",
            )
        )

    def _records(self, rows: Iterable[tuple[Any, ...]]) -> Iterator[ReadEvent]:
        sheet = self.sheet
        width = 0
        for number, values in enumerate(rows, start=1):
            if number > MAX_ROWS or len(values) > MAX_COLUMNS:
                raise FileLevelError(
                    RowError(
                        line=min(number, MAX_ROWS + 1),
                        sheet=sheet,
                        code="invalid_workbook",
                        message=f"the sheet reaches past Excel's {MAX_ROWS} rows or "
                        f"{MAX_COLUMNS} columns",
                    )
                )
            cells = [normalise_cell(value) for value in values]
            if not any(cell != "" for cell in cells):
                continue
            if self.columns is None:
                while cells and cells[-1] == "":
                    cells.pop()
                self.columns = tuple(_header_text(cell) for cell in cells)
                width = len(cells)
                continue
            if len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            elif len(cells) > width:
                extra = next((i for i in range(width, len(cells)) if cells[i] != ""), None)
                if extra is not None:
                    yield RowError(
                        line=number,
                        column=extra + 1,
                        sheet=sheet,
                        column_letter=column_letter(extra),
                        code="wrong_column_count",
                        message=f"expected {width} columns, found a value in column "
                        f"{column_letter(extra)}",
                    )
                    continue
                del cells[width:]
            yield number, cells
        if self.columns is None:
            raise FileLevelError(
                RowError(
                    line=1,
                    sheet=sheet,
                    code="missing_header",
                    message=f"the sheet {sheet!r} is empty",
                )
            )


def read_xlsx(
    stream: IO[bytes],
    *,
    sheet: str | None = None,
    limits: ArchiveLimits,
    max_shared_strings: int = MAX_SHARED_STRINGS_BYTES,
) -> XlsxRecords:
    """`stream` must be seekable (object_store.open_seekable): a ZIP is read from its end."""
    return XlsxRecords(stream, sheet=sheet, limits=limits, max_shared_strings=max_shared_strings)


def normalise_cell(value: Any) -> Cell:
    """A cell as the row validator takes it: text, or a bool, date, time or datetime.

    Excel keeps every number as a float: an integral one (an id typed as 1001) is its digits.
    A datetime at midnight is a date (Excel has no date type: a date cell is a datetime).
    """
    kind = type(value)
    if value is None:
        return ""
    if kind is str:
        return _unescape(value) if "_x" in value else value
    if kind is float:
        return str(int(value)) if value.is_integer() else str(value)
    if kind is int:
        return str(value)
    if kind is bool or kind is date or kind is time:
        return value
    if kind is datetime:
        if value.time() == _MIDNIGHT and value.tzinfo is None:
            return value.date()
        return value
    if kind is timedelta:  # a duration format ([h]:mm)
        return str(value)
    return str(value)


class SharedStrings:
    """The workbook's shared-strings table: one UTF-8 buffer and the end offset of each string.

    openpyxl indexes it by position; a list of Python strings costs about 60 bytes of object
    per string on top of the text, this 8.
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("Q")

    def append(self, text: str) -> None:
        self._data += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)
        end = self._ends[index]
        start = self._ends[index - 1] if index else 0
        return self._data[start:end].decode("utf-8", "surrogatepass")


def read_shared_strings(source: IO[bytes]) -> SharedStrings:
    """Each `<si>`: its text, or its rich-text runs' text joined (phonetic runs left out)."""
    table = SharedStrings()
    # The standard parser, as openpyxl's own: expat (>= 2.4) refuses entity amplification
    # (billion laughs), and ElementTree fetches no external entity.
    events = iterparse(source, events=("start", "end"))  # noqa: S314
    root = None
    for event, element in events:
        if root is None:
            root = element
        elif event == "end" and element.tag == _SI:
            parts = [child.text or "" for child in element if child.tag == _T]
            for run in element:
                if run.tag == _R:
                    parts.extend(t.text or "" for t in run if t.tag == _T)
            table.append("".join(parts))
            root.clear()  # the finished <si> and its text go; memory stays flat
    return table


class _Package(zipfile.ZipFile):
    """The workbook's ZIP as openpyxl opens it, except that a part read whole (`read`, as
    openpyxl reads everything but the worksheets and the shared strings) is capped."""

    max_part = MAX_PART_BYTES

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if info.file_size > self.max_part:
            raise breach(
                "member_too_large",
                f"{info.file_size} bytes uncompressed; a workbook part read whole may hold "
                f"at most {self.max_part}",
                info.filename,
            )
        return super().read(name, pwd)


class _Sheet(ReadOnlyWorksheet):  # type: ignore[misc]
    def _get_size(self) -> None:
        """No dimensions: they are not trusted (reset_dimensions), and sizing a sheet that has
        none would parse it whole at load."""


class _WorkbookReader(ExcelReader):  # type: ignore[misc]
    """openpyxl's read-only loader with the shared strings held compactly (and capped), whole
    reads capped (_Package) and worksheets not sized at load."""

    archive: zipfile.ZipFile

    def __init__(self, stream: IO[bytes], *, max_part: int, max_strings: int) -> None:
        super().__init__(stream, read_only=True, data_only=True, keep_links=False)
        self.archive.close()  # openpyxl's own ZipFile: replaced by the capped one
        package = _Package(stream)
        package.max_part = max_part
        self.archive = package
        self.valid_files = package.namelist()
        self._max_strings = max_strings

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        if part is None:
            return
        name = part.PartName[1:]
        size = self.archive.getinfo(name).file_size
        if size > self._max_strings:
            raise breach(
                "member_too_large",
                f"the shared-strings table is {size} bytes uncompressed; at most "
                f"{self._max_strings} can be held: save the sheet as CSV",
                name,
            )
        with self.archive.open(name) as source:
            self.shared_strings = read_shared_strings(source)

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files or "chartsheet" in rel.Type:
                continue
            worksheet = _Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
            worksheet.sheet_state = sheet.state
            self.wb._sheets.append(worksheet)


def _unescape(text: str) -> str:
    return _ESCAPED.sub(_unescaped, text)


def _unescaped(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)


def _header_text(cell: Cell) -> str:
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    return str(cell).strip()


def _unreadable(exc: BaseException, sheet: str | None) -> RowError:
    # openpyxl wraps what failed in a ValueError naming only its step: say the cause.
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    text = str(cause).strip()
    detail = text.splitlines()[0] if text else type(cause).__name__
    return RowError(
        sheet=sheet,
        code="invalid_workbook",
        message=f"the workbook cannot be read: {detail}",
    )
