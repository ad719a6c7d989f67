"""Ingestion: every source file into the DuckDB tables records, events, rejected, field_issues.

Contracts: DESIGN.md "Outputs" (row accounting: input rows = records + rejected, nothing
dropped silently) and docs/internals.md "Tables" (exact schemas). All work is DuckDB SQL
over whole tables (read_csv / read_parquet, try_strptime, CASE code maps, a country lookup
join); Python only builds the statements.

Decisions (each pinned by a test in tests/test_ingest.py):

- Format by extension: ``.parquet``/``.pq``/``.parq`` are Parquet, anything else CSV (``.gz``
  allowed). The CSV delimiter is chosen from the header line (``,`` ``;`` tab ``|``: the one
  giving most fields) and passed to DuckDB explicitly; quote and escape are ``"``.
- Encoding: UTF-8 (BOM or not), UTF-16 with BOM; a file that is not valid UTF-8 is read as
  Windows-1252 when it holds bytes 0x80-0x9F, else as latin-1. NUL or control bytes (or a
  ZIP/Excel signature) make it a one-line "binary file" error. Line ends LF, CRLF, or CR
  alone (old Mac / Excel for Mac exports), or LF and CRLF mixed in one file (the last two
  read through a temporary LF copy).
- A 0-byte (or blank) file is a one-line error: a CSV source needs a header. A header-only
  file is a source with 0 rows. Blank lines are not rows.
- Rejected rows (reason = short code, colon, text): ``missing_id``; ``duplicate_id`` — every
  copy of an id that appears more than once in the source is rejected, since no copy can be
  told apart from the others ("cannot be identified"); ``unreadable_crossing_date`` /
  ``unreadable_direction`` for border rows; rows the CSV reader cannot split into the
  header's fields: ``too_few_fields``, ``too_many_fields``, ``bad_quoting``,
  ``line_too_long``. ``raw`` is the JSON object of the row keyed by header names, or
  ``{"csv_line": ...}`` for a row that could not be split.
- ``row_number`` is the 1-based data row (records, not physical lines: a quoted field may
  hold line breaks; blank lines are skipped). Row numbers of records and rejected rows
  together are exactly 1..input_rows; an independent byte-level line count guards that no
  row was lost.
- Values are trimmed; empty becomes NULL. Dates use the source's ``date_format`` (ISO 8601
  when absent, a time part is ignored); a value shaped like the format that is not a real
  day is an "impossible date", anything else an "unreadable date". Whole numbers accept
  "1990" and "1990.0", not "1990.5". Codes: the source's ``codes`` (exact, then
  case-insensitive) then built-in unambiguous defaults (:data:`DEFAULT_CODES`); a value
  left unmapped is NULL with "unknown code" (sex, direction, purpose) or kept as written
  (free-text fields such as port). Countries: codes first, then
  :mod:`linkage.countries`; unmatched -> NULL with "unknown country".
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .countries import SQL_KEY, create_lookup_table
from .errors import MiglinkError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_SAMPLE_BYTES = 1 << 16
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class SourceFile:
    """What a source file is: ``format`` csv|parquet, and for CSV its encoding and delimiter.

    ``header`` is the list of column names as written in the file (BOM and surrounding
    whitespace removed).
    """
    path: Path
    format: str
    header: tuple[str, ...]
    encoding: str | None = None      # utf-8 | latin-1 | cp1252 | utf-16
    delimiter: str | None = None
    newline: str = "\n"              # "\r" for files with old Mac (CR-only) line ends


def is_parquet(path: Path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def _detect_encoding(sample: bytes, path: Path) -> tuple[str, bytes]:
    """Return (duckdb encoding, sample without BOM) or raise for a binary file."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", sample[len(codecs.BOM_UTF8):]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", sample
    if sample.startswith(b"PK\x03\x04"):
        raise MiglinkError("is a binary file (a ZIP archive or an Excel workbook?), not CSV "
                           "text; export it as CSV or Parquet", file=path)
    if b"\x00" in sample or sum(b < 32 and b not in (9, 10, 13) for b in sample[:4096]) > 8:
        raise MiglinkError("is a binary file, not CSV text; give a CSV or Parquet file",
                           file=path)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", sample
    except UnicodeDecodeError:
        return _legacy_encoding(sample), sample


def _legacy_encoding(data) -> str:
    """A file that is not UTF-8 is read as Windows-1252 when it holds bytes 0x80-0x9F (which
    are control characters in ISO 8859-1 but letters and punctuation such as € and ’ in
    cp1252, the usual export of Windows tools), else as ISO 8859-1 (latin-1)."""
    import numpy as np
    arr = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    return "cp1252" if bool(((arr >= 0x80) & (arr <= 0x9F)).any()) else "latin-1"


def _decode(sample: bytes, encoding: str) -> str:
    if encoding == "utf-16":
        return sample.decode("utf-16", errors="ignore")
    if encoding in ("latin-1", "cp1252"):
        return sample.decode(encoding, errors="replace")
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final=False)


def _first_record(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return next(reader)
    except (StopIteration, csv.Error):
        return []


def _detect_delimiter(text: str) -> str:
    """The candidate delimiter that splits the header into the most fields (ties: , ; tab |)."""
    best, best_n = ",", 1
    for d in _DELIMITERS:
        n = len(_first_record(text, d))
        if n > best_n:
            best, best_n = d, n
    return best


def inspect_file(path: str | Path) -> SourceFile:
    """Read just enough of a source file to know its format, encoding, delimiter and header.

    Raises MiglinkError (one line, naming the file) for a missing, empty-of-header or binary
    file. A file with a header and no data rows is fine.
    """
    path = Path(path)
    if not path.is_file():
        raise MiglinkError("file not found", file=path)
    if is_parquet(path):
        import pyarrow.parquet as pq
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise MiglinkError(f"cannot be read as Parquet ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})", file=path)
        return SourceFile(path, "parquet", tuple(schema.names))
    opener = open
    if path.suffix.lower() == ".gz":
        import gzip
        opener = gzip.open
    try:
        with opener(path, "rb") as f:
            sample = f.read(_SAMPLE_BYTES)
    except OSError as exc:
        raise MiglinkError(f"cannot be read ({exc.strerror or exc})", file=path)
    if not sample.strip():
        raise MiglinkError("is empty (0 bytes or only blank space): a CSV source needs at "
                           "least a header line", file=path)
    encoding, body = _detect_encoding(sample, path)
    text = _decode(body, encoding).lstrip("\ufeff")
    newline = "\r" if "\r" in text and "\n" not in text else "\n"
    if newline == "\r":
        text = text.replace("\r", "\n")
    first_line = text.split("\n", 1)[0]
    delimiter = _detect_delimiter(first_line if first_line.count('"') % 2 == 0 else text)
    header = tuple(h.strip().lstrip("\ufeff") for h in _first_record(text, delimiter))
    if not any(header):
        raise MiglinkError("has no header line (the first line is empty)", file=path)
    return SourceFile(path, "csv", header, encoding, delimiter, newline)


# =========================================================================== ingestion

#: Built-in code maps, applied (case-insensitively) after the source's own ``codes``.
#: Only unambiguous spellings: a code such as "1"/"2" or "W" means different things in
#: different systems, so it needs the source's own ``codes``.
DEFAULT_CODES: dict[str, dict[str, str]] = {
    "sex": {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M", "X": "X"},
    "direction": {"IN": "in", "OUT": "out", "ARRIVAL": "in", "DEPARTURE": "out", "ARR": "in",
                  "DEP": "out", "ENTRY": "in", "EXIT": "out", "ARRIVE": "in", "DEPART": "out"},
    "purpose": {p.upper(): p for p in schema.PURPOSES} | {
        "SEASONAL WORK": "seasonal_work", "SEASONAL-WORK": "seasonal_work"},
}

RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"), ("record_id", "VARCHAR"), ("kind", "VARCHAR"),
    ("row_number", "BIGINT"),
    *((f, "DATE" if f in schema.DATE_FIELDS else "INTEGER" if f in schema.INT_FIELDS
       else "VARCHAR") for f in schema.PERSON_FIELDS),
    ("crossing_date", "DATE"), ("valid_from", "DATE"), ("valid_to", "DATE"),
    ("census_date", "DATE"), ("registration_date", "DATE"), ("deregistration_date", "DATE"),
    ("death_date", "DATE"), ("naturalisation_date", "DATE"),
    ("direction", "VARCHAR"), ("port", "VARCHAR"), ("purpose", "VARCHAR"),
    ("visa_category", "VARCHAR"), ("year_of_arrival", "INTEGER"),
)
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"), ("record_id", "VARCHAR"), ("event_date", "DATE"),
    ("event_type", "VARCHAR"), ("event_seq", "BIGINT"), ("direction", "VARCHAR"),
    ("port", "VARCHAR"), ("purpose", "VARCHAR"), ("visa_category", "VARCHAR"),
    ("valid_from", "DATE"), ("valid_to", "DATE"), ("year_of_arrival", "INTEGER"),
)
REJECTED_COLUMNS = (("source", "VARCHAR"), ("row_number", "BIGINT"), ("reason", "VARCHAR"),
                    ("raw", "VARCHAR"))
FIELD_ISSUE_COLUMNS = (("source", "VARCHAR"), ("record_id", "VARCHAR"), ("field", "VARCHAR"),
                       ("raw_value", "VARCHAR"), ("problem", "VARCHAR"))

#: Events per kind: (event_type SQL, date field). See docs/internals.md "Tables".
_EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "border": (("'crossing_' || direction", "crossing_date"),),
    "visa": (("'visa_start'", "valid_from"), ("'visa_end'", "valid_to")),
    "register": (("'register_in'", "registration_date"),
                 ("'register_out'", "deregistration_date"),
                 ("'death'", "death_date"), ("'naturalisation'", "naturalisation_date")),
    "census": (("'census'", "census_date"),),
    "generic": (),
}

#: DuckDB CSV error types -> short reason codes for ``rejected``.
_CSV_REASONS = {
    "MISSING COLUMNS": "too_few_fields", "TOO MANY COLUMNS": "too_many_fields",
    "UNQUOTED VALUE": "bad_quoting", "LINE SIZE OVER MAXIMUM": "line_too_long",
    "INVALID ENCODING": "invalid_encoding", "INVALID UNICODE": "invalid_encoding",
    "CAST ERROR": "unreadable_row",
}

_ISO_SHAPE = r"\d{4}-\d{1,2}-\d{1,2}([ T].*)?"
_FMT_SHAPES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}", "d": r"\d{1,2}",
               "-m": r"\d{1,2}", "-d": r"\d{1,2}", "b": r"[^\W\d_]+", "B": r"[^\W\d_]+",
               "H": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "j": r"\d{1,3}"}


def lit(value) -> str:
    """A SQL string literal."""
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def date_shape(fmt: str | None) -> str:
    """Regex a value must match to *look like* a date of ``fmt``: a value of that shape that
    still does not parse is an impossible date (e.g. 1990-02-31), otherwise unreadable."""
    if fmt is None:
        return _ISO_SHAPE
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            key = fmt[i + 1:i + 3] if fmt[i + 1] == "-" else fmt[i + 1]
            out.append(_FMT_SHAPES.get(key, ".+"))
            i += 1 + len(key)
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def _create_tables(con) -> None:
    for name, cols in (("records", RECORD_COLUMNS), ("events", EVENT_COLUMNS),
                       ("rejected", REJECTED_COLUMNS), ("field_issues", FIELD_ISSUE_COLUMNS)):
        con.execute(f"CREATE OR REPLACE TABLE {name} ("
                    + ", ".join(f"{c} {t}" for c, t in cols) + ")")


def _line_stats(path: Path):
    """(data rows, has_quote, blank line numbers) of a CSV counted from its bytes alone.

    Data rows = non-blank physical lines after the header; without quote characters every
    such line is exactly one row: an independent count that guards the row accounting
    against anything the CSV reader might skip silently. Blank lines (empty or a lone CR)
    are numbered 1-based like physical lines (the header is line 1)."""
    import numpy as np
    size = path.stat().st_size
    if size == 0:
        return 0, False, np.zeros(0, dtype=np.int64)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    ends, has_quote, step = [], False, 1 << 26
    for off in range(0, size, step):
        chunk = mm[off:off + step]
        ends.append(np.flatnonzero(chunk == 10) + off)
        has_quote = has_quote or bool((chunk == 34).any())
    ends = np.concatenate(ends)
    if mm[size - 1] != 10:
        ends = np.append(ends, size)  # a last line without a line end
    starts = np.concatenate(([0], ends[:-1] + 1))
    length = ends - starts
    prev = mm[np.maximum(ends - 1, 0)]
    blank = (length == 0) | ((length == 1) & (prev == 13))
    blank_lines = np.flatnonzero(blank) + 1
    del mm
    return int((~blank).sum()) - 1, has_quote, blank_lines


def _count_physical_rows(path: Path) -> tuple[int, bool]:
    rows, has_quote, _ = _line_stats(path)
    return rows, has_quote


class _SourceReader:
    """Reads one source into ``_ing_raw`` (columns c0..cN VARCHAR, plus ``_rn`` = data row
    number) and ``_ing_parse_rej`` (row_number, reason, raw) for rows the reader could not
    split into the header's fields."""

    def __init__(self, con, src):
        self.con, self.src = con, src
        self.file = getattr(src, "file", None) or inspect_file(src.path)
        self.temporal: set[int] = set()
        self.scan_path, self.scan_encoding = Path(src.path), self.file.encoding
        self._tmp = None

    def read(self) -> None:
        if self.file.format == "parquet":
            self._read_parquet()
        else:
            self._read_csv()

    def close(self) -> None:
        """Remove a temporary transcoded copy, if one was made."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _read_parquet(self):
        con, path = self.con, self.src.path
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(path)})").fetchall()
        cols = []
        for i, (name, typ, *_rest) in enumerate(desc):
            if typ == "DATE" or typ.startswith("TIMESTAMP"):
                self.temporal.add(i)
                cols.append(f"CAST({ident(name)} AS DATE) AS c{i}")
            else:
                cols.append(f"CAST({ident(name)} AS VARCHAR) AS c{i}")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ing_raw AS
            SELECT file_row_number + 1 AS _rn, {', '.join(cols)}
            FROM read_parquet({lit(path)}, file_row_number=true) ORDER BY file_row_number""")
        con.execute("CREATE OR REPLACE TEMP TABLE _ing_parse_rej "
                    "(row_number BIGINT, reason VARCHAR, raw VARCHAR)")

    def _transcode(self, encoding: str, lf_only: bool = False) -> None:
        """DuckDB reads UTF-8, UTF-16 and latin-1 with LF or CRLF line ends: re-encode other
        files (Windows-1252, CR-only line ends) to a temporary UTF-8 copy, block by block.
        The CSV structure is unchanged, so rows and their numbers are the same."""
        import tempfile
        self.close()
        self._tmp = tempfile.TemporaryDirectory(prefix="miglink-")
        target = Path(self._tmp.name) / "source.csv"
        decoder = codecs.getincrementaldecoder(encoding)(
            errors="strict" if encoding == "utf-8" else "replace")
        cr_only = self.file.newline == "\r"
        carry = ""
        with open(self.src.path, "rb") as fin, open(target, "wb") as fout:
            while True:
                block = fin.read(1 << 24)
                text = carry + decoder.decode(block, final=not block)
                carry = ""
                if cr_only:
                    text = text.replace("\r", "\n")
                elif lf_only:
                    if block and text.endswith("\r"):  # a CRLF may straddle two blocks
                        text, carry = text[:-1], "\r"
                    text = text.replace("\r\n", "\n")
                fout.write(text.encode("utf-8"))
                if not block:
                    break
        self.scan_path, self.scan_encoding = target, "utf-8"

    def _scan(self, encoding: str) -> list:
        if encoding == "cp1252" or (self.file.newline == "\r" and encoding != "utf-16"):
            try:
                self._transcode(encoding)
            except UnicodeDecodeError:  # not UTF-8 after all (beyond the sniffed sample)
                import numpy as np
                self._transcode(_legacy_encoding(np.memmap(self.src.path, dtype=np.uint8,
                                                           mode="r")))
        else:
            self.scan_path, self.scan_encoding = Path(self.src.path), encoding
        return self._scan_path(self.scan_path, self.scan_encoding)

    def _scan_path(self, path: Path, encoding: str) -> list:
        con, f = self.con, self.file
        n = len(f.header)
        cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
        con.execute("DROP TABLE IF EXISTS _ing_rej_errors")
        con.execute("DROP TABLE IF EXISTS _ing_rej_scans")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ing_scan AS
            SELECT * FROM read_csv({lit(path)}, header=true, auto_detect=false,
                delim={lit(f.delimiter)}, quote='"', escape='"', encoding={lit(encoding)},
                columns={cols}, strict_mode=true, store_rejects=true,
                rejects_table='_ing_rej_errors', rejects_scan='_ing_rej_scans',
                rejects_limit=0, max_line_size=16777216)""")
        return con.execute("SELECT DISTINCT error_type FROM _ing_rej_errors").fetchall()

    def _read_csv(self):
        con, f = self.con, self.file
        import duckdb
        try:
            try:
                types = {t for (t,) in self._scan(f.encoding)}
            except duckdb.Error as exc:
                if "state machine" not in str(exc) or f.encoding == "utf-16":
                    raise
                # DuckDB cannot read a file whose line ends mix LF and CRLF: read an LF copy
                try:
                    self._transcode(f.encoding, lf_only=True)
                except UnicodeDecodeError:
                    import numpy as np
                    self._transcode(_legacy_encoding(np.memmap(
                        self.src.path, dtype=np.uint8, mode="r")), lf_only=True)
                types = {t for (t,) in self._scan_path(self.scan_path, self.scan_encoding)}
            if f.encoding == "utf-8" and types & {"INVALID ENCODING", "INVALID UNICODE"}:
                # Bytes that are not UTF-8 beyond the sample that inspect_file looked at:
                # the file is in a legacy single-byte encoding; read it all again as such.
                import numpy as np
                self._scan(_legacy_encoding(np.memmap(self.src.path, dtype=np.uint8,
                                                      mode="r")))
        except duckdb.Error as exc:  # a file DuckDB cannot read at all
            raise MiglinkError(f"cannot be read as CSV ({str(exc).splitlines()[0]})",
                               file=self.src.path) from None
        reasons = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in _CSV_REASONS.items())
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ing_parse_rej AS
            WITH e AS (  -- DuckDB logs one error per missing column: keep the first
                SELECT line, arg_min(error_type, column_idx) AS error_type,
                       arg_min(error_message, column_idx) AS error_message,
                       arg_min(csv_line, column_idx) AS csv_line
                FROM _ing_rej_errors GROUP BY line)
            SELECT line - 1 AS row_number,
                   coalesce(CASE error_type {reasons} END, 'unreadable_row') || ': '
                     || error_message AS reason,
                   json_object('csv_line', rtrim(csv_line, chr(10) || chr(13))) AS raw
            FROM e ORDER BY line""")
        if con.execute("SELECT count(*) FROM _ing_parse_rej").fetchone()[0]:
            self._discount_blank_lines()
            # Blank lines in a file with quotes cannot be located from its bytes: clip so
            # that no rejected row is numbered beyond the rows that exist (the numbers of
            # records and rejected rows are then always exactly 1..n, in file order up to
            # where such blank lines fall).
            con.execute("""CREATE OR REPLACE TEMP TABLE _ing_parse_rej AS
                WITH r AS (SELECT *, row_number() OVER (ORDER BY row_number) AS j
                           FROM _ing_parse_rej)
                SELECT least(row_number - j, (SELECT count(*) FROM _ing_scan)) + j
                         AS row_number, reason, raw
                FROM r ORDER BY row_number""")
        # Data row numbers of the rows the reader accepted: the k-th accepted row is the k-th
        # number in 1..(accepted + rejected) that is not a rejected row's number.
        con.execute("""CREATE OR REPLACE TEMP TABLE _ing_gaps AS
            SELECT row_number - row_number() OVER (ORDER BY row_number) AS before,
                   row_number() OVER (ORDER BY row_number) AS j
            FROM _ing_parse_rej""")
        n_rej = con.execute("SELECT count(*) FROM _ing_gaps").fetchone()[0]
        if n_rej == 0:
            con.execute("CREATE OR REPLACE TEMP VIEW _ing_raw AS "
                        "SELECT rowid + 1 AS _rn, * FROM _ing_scan")
        else:
            con.execute("""CREATE OR REPLACE TEMP TABLE _ing_raw AS
                WITH s AS (SELECT rowid + 1 AS k, * FROM _ing_scan),
                     g AS (SELECT before, max(j) AS j FROM _ing_gaps GROUP BY before)
                SELECT s.k + coalesce(g.j, 0) AS _rn, s.* EXCLUDE (k)
                FROM s ASOF LEFT JOIN g ON s.k > g.before ORDER BY s.k""")
            con.execute("DROP TABLE IF EXISTS _ing_scan")

    def _plain_bytes(self) -> bool:
        """True when the scanned file's bytes can be counted directly (not gzip or UTF-16)."""
        return self.scan_path.suffix.lower() != ".gz" and self.scan_encoding != "utf-16"

    def _discount_blank_lines(self) -> None:
        """DuckDB's reject ``line`` counts blank lines, which are not data rows: subtract the
        blank lines above each rejected row. Exact for files without quote characters (there
        every physical line is a record); files with quotes keep DuckDB's numbering."""
        if not self._plain_bytes():
            return
        import numpy as np
        _rows, has_quote, blank_lines = _line_stats(self.scan_path)
        if has_quote or not len(blank_lines):
            return
        lines = self.con.execute("SELECT row_number + 1 AS line FROM _ing_parse_rej "
                                 "ORDER BY line").fetchnumpy()["line"]
        import pandas as pd
        fix = pd.DataFrame({"old": lines - 1,
                            "new": lines - 1 - np.searchsorted(blank_lines, lines)})
        self.con.register("_ing_blankfix", fix)
        try:
            self.con.execute("""UPDATE _ing_parse_rej SET row_number = f.new
                FROM _ing_blankfix f WHERE _ing_parse_rej.row_number = f.old""")
        finally:
            self.con.unregister("_ing_blankfix")

    def check_accounting(self, seen: int) -> None:
        """Raise if the reader saw fewer rows than the file physically holds."""
        if self.file.format != "csv" or not self._plain_bytes():
            return
        physical, has_quote = _count_physical_rows(self.scan_path)
        if (not has_quote and seen != physical) or seen > physical:
            raise MiglinkError(f"row accounting failed: the file has {physical} data lines but "
                               f"the CSV reader returned {seen} rows; please report this",
                               file=self.src.path)


def _code_expr(field: str, x: str, codes: dict[str, str | None]) -> tuple[str, str]:
    """(canonical value expression, 'known missing' condition) for a coded field."""
    parts = []
    user = {k: v for k, v in codes.items() if v is not None}
    if user:
        parts.append("CASE " + x + " " + " ".join(f"WHEN {lit(k)} THEN {lit(v)}"
                                                  for k, v in user.items()) + " END")
        upper = {}
        for k, v in user.items():
            upper.setdefault(k.upper(), v)
        parts.append(f"CASE upper({x}) " + " ".join(f"WHEN {lit(k)} THEN {lit(v)}"
                                                   for k, v in upper.items()) + " END")
    defaults = DEFAULT_CODES.get(field)
    if defaults:
        parts.append(f"CASE upper({x}) " + " ".join(f"WHEN {lit(k)} THEN {lit(v)}"
                                                   for k, v in defaults.items()) + " END")
    nulls = [k for k, v in codes.items() if v is None]
    known_missing = (f"{x} IN ({', '.join(lit(k) for k in nulls)})" if nulls else "FALSE")
    expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    if not parts:
        expr = x
    return expr, known_missing


def _field_sql(src, fld: str, x: str, temporal: bool):
    """(value expression, problem expression or None, join clause or None) for one field.

    ``x`` is the trimmed raw VARCHAR expression (or a DATE for a temporal Parquet column).
    The problem expression is evaluated only where the raw value is non-null and the
    value is null."""
    codes = src.codes.get(fld, {})
    if fld in schema.DATE_FIELDS:
        if temporal:
            return x, "'unreadable date'", None
        if src.date_format:
            val = f"CAST(try_strptime({x}, {lit(src.date_format)}) AS DATE)"
        else:
            val = f"coalesce(TRY_CAST({x} AS DATE), CAST(TRY_CAST({x} AS TIMESTAMP) AS DATE))"
        shape = date_shape(src.date_format)
        problem = (f"CASE WHEN regexp_full_match({x}, {lit(shape)}) THEN 'impossible date' "
                   "ELSE 'unreadable date' END")
        return val, problem, None
    if fld in schema.INT_FIELDS:
        val = (f"CASE WHEN regexp_full_match({x}, '[+-]?[0-9]+(\\.0*)?') "
               f"THEN TRY_CAST(TRY_CAST({x} AS DOUBLE) AS INTEGER) END")
        return val, "'unreadable number'", None
    if fld in schema.COUNTRY_FIELDS:
        mapped, known_missing = x, "FALSE"
        if codes:
            coded, known_missing = _code_expr(fld, x, codes)
            mapped = f"coalesce({coded}, CASE WHEN {known_missing} THEN NULL ELSE {x} END)"
        alias = f"_ing_cmap_{fld}"
        problem = f"CASE WHEN {known_missing} THEN NULL ELSE 'unknown country' END"
        return f"{alias}.alpha3", problem, (alias, mapped)
    if fld in DEFAULT_CODES or codes:
        val, known_missing = _code_expr(fld, x, codes)
        if fld not in DEFAULT_CODES:
            # free-text field with a partial code map: unmapped values pass through
            val = f"coalesce({val}, CASE WHEN {known_missing} THEN NULL ELSE {x} END)"
            return val, None, None
        return val, f"CASE WHEN {known_missing} THEN NULL ELSE 'unknown code' END", None
    return x, None, None


class Ingestor:
    """Reads every source of a config into records/events/rejected/field_issues.

    Parameters: ``con`` (DuckDB connection), ``config`` (:class:`~linkage.config.Config`),
    ``progress`` (optional callable taking one message string). After :meth:`run`,
    ``counts`` maps source name -> {input_rows, accepted, rejected, field_issues}.
    """

    def __init__(self, con, config, progress=None):
        self.con, self.config, self.progress = con, config, progress
        self.counts: dict[str, dict[str, int]] = {}

    def _say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress(msg)

    def run(self) -> dict:
        con = self.con
        _create_tables(con)
        create_lookup_table(con, "_ing_countries", temp=True)
        # row numbers rely on tables keeping the file's order
        (order,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        con.execute("SET preserve_insertion_order = true")
        try:
            for i, src in enumerate(self.config.sources):
                t0 = time.perf_counter()
                self._ingest_source(src, i)
                c = self.counts[src.name]
                self._say(f"ingest {src.name}: {c['input_rows']} rows, {c['accepted']} "
                          f"accepted, {c['rejected']} rejected, {c['field_issues']} field "
                          f"issues ({time.perf_counter() - t0:.1f} s)")
        finally:
            _drop_temp(con)
            con.execute("DROP TABLE IF EXISTS _ing_countries")
            con.execute(f"SET preserve_insertion_order = {'true' if order else 'false'}")
        return self.counts

    def _ingest_source(self, src, index: int) -> None:
        con = self.con
        reader = _SourceReader(con, src)
        try:
            self._ingest_read(src, reader)
        finally:
            reader.close()

    def _ingest_read(self, src, reader) -> None:
        con = self.con
        reader.read()
        header = list(reader.file.header)
        pos = {}
        for i, h in enumerate(header):
            pos.setdefault(h, i)
        if src.id not in pos:
            raise MiglinkError(f"id column {src.id!r} is not in the header", file=src.path)

        def raw_of(col: str) -> tuple[str, bool]:
            if col not in pos:
                raise MiglinkError(f"column {col!r} is not in the header "
                                   f"({', '.join(header)})", file=src.path)
            i = pos[col]
            if i in reader.temporal:
                return f"c{i}", True
            return f"nullif(trim(c{i}), '')", False

        fields = [f for f in src.fields if f in src.columns]
        selects, joins, problems = [], [], {}
        for f in fields:
            x, temporal = raw_of(src.columns[f])
            val, _problem, join = _field_sql(src, f, x, temporal)
            selects.append(f"{f'CAST({x} AS VARCHAR)' if temporal else x} AS {ident('r_' + f)}")
            selects.append(f"{val} AS {ident('v_' + f)}")
            if join:
                # countries: normalise each distinct value once, then join on the raw value
                alias, mapped = join
                con.execute(f"""CREATE OR REPLACE TEMP TABLE {alias} AS
                    SELECT m.raw, c.alpha3
                    FROM (SELECT DISTINCT {mapped} AS raw FROM _ing_raw) m
                    LEFT JOIN _ing_countries c ON c.key = {SQL_KEY.format(x='m.raw')}
                    WHERE m.raw IS NOT NULL""")
                joins.append(f"LEFT JOIN {alias} ON {alias}.raw = {mapped}")
            # the problem is evaluated later on the stored raw value r_<field>
            _v, problem, _j = _field_sql(src, f, ident("r_" + f), False)
            if problem:
                problems[f] = "'unreadable date'" if temporal else problem
        id_x, _ = raw_of(src.id)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ing_dups AS
            SELECT CAST({id_x} AS VARCHAR) AS record_id, count(*) AS n FROM _ing_raw
            WHERE {id_x} IS NOT NULL GROUP BY ALL HAVING count(*) > 1""")
        reason_cases = [
            "WHEN t.record_id IS NULL THEN 'missing_id: no value in id column ' || "
            + lit(repr(src.id)),
            "WHEN d.n > 1 THEN 'duplicate_id: id ' || t.record_id || ' is on ' || d.n || "
            "' rows of the source (all copies rejected)'",
        ]
        for f in schema.REQUIRED_EVENT_FIELDS[src.kind]:
            if f in fields:
                reason_cases.append(
                    f"WHEN t.{ident('v_' + f)} IS NULL THEN 'unreadable_{f}: ' || "
                    f"coalesce('cannot read ' || t.{ident('r_' + f)}, 'empty')")
        # One pass: typed values, and why the row is rejected (NULL = accepted).
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ing_typed AS
            SELECT t.*, CASE {' '.join(reason_cases)} END AS reason
            FROM (SELECT _ing_raw._rn AS row_number, CAST({id_x} AS VARCHAR) AS record_id,
                         {', '.join(selects) if selects else 'NULL AS _none'}
                  FROM _ing_raw {' '.join(joins)}) t
            LEFT JOIN _ing_dups d ON d.record_id = t.record_id""")
        header_json = ", ".join(f"{lit(h)}, c{i}" for h, i in _unique_names(header))
        name = lit(src.name)
        con.execute(f"""INSERT INTO rejected
            SELECT {name}, row_number, reason, raw FROM _ing_parse_rej""")
        con.execute(f"""INSERT INTO rejected
            SELECT {name}, t.row_number, t.reason, CAST(json_object({header_json}) AS VARCHAR)
            FROM (SELECT row_number, reason FROM _ing_typed WHERE reason IS NOT NULL) t
            JOIN _ing_raw r ON r._rn = t.row_number ORDER BY t.row_number""")
        _drop_temp(con, ("_ing_raw", "_ing_scan"))  # free memory: the raw text is done with
        values = []
        for c, _t in RECORD_COLUMNS:
            if c == "source":
                values.append(name)
            elif c == "kind":
                values.append(lit(src.kind))
            elif c in ("record_id", "row_number"):
                values.append(c)
            elif c in fields:
                values.append(ident("v_" + c))
            else:
                values.append("NULL")
        con.execute(f"""INSERT INTO records
            SELECT {', '.join(values)} FROM _ing_typed WHERE reason IS NULL
            ORDER BY row_number""")
        issue_parts = []
        for f, problem in problems.items():
            r, v = ident("r_" + f), ident("v_" + f)
            issue_parts.append(
                f"SELECT {name}, record_id, {lit(f)}, {r}, {problem} AS problem, "
                f"row_number AS rn, {list(src.fields).index(f)} AS fo FROM _ing_typed "
                f"WHERE reason IS NULL AND {r} IS NOT NULL AND {v} IS NULL")
        if issue_parts:
            con.execute(f"""INSERT INTO field_issues
                SELECT * EXCLUDE (rn, fo) FROM ({' UNION ALL '.join(issue_parts)})
                WHERE problem IS NOT NULL ORDER BY rn, fo""")
        self._events(src, fields)

        parse_rej = con.execute("SELECT count(*) FROM _ing_parse_rej").fetchone()[0]
        typed = con.execute("SELECT count(*) FROM _ing_typed").fetchone()[0]
        accepted, rejected, issues = con.execute(f"""SELECT
            (SELECT count(*) FROM records WHERE source = {name}),
            (SELECT count(*) FROM rejected WHERE source = {name}),
            (SELECT count(*) FROM field_issues WHERE source = {name})""").fetchone()
        input_rows = typed + parse_rej
        reader.check_accounting(input_rows)
        if accepted + rejected != input_rows:  # pragma: no cover - an internal invariant
            raise MiglinkError(f"row accounting failed: {input_rows} input rows but "
                               f"{accepted} accepted + {rejected} rejected", file=src.path)
        self.counts[src.name] = {"input_rows": int(input_rows), "accepted": int(accepted),
                                 "rejected": int(rejected), "field_issues": int(issues)}
        _drop_temp(con)

    def _events(self, src, fields) -> None:
        """Events of the source's accepted rows (docs/internals.md "Tables"). ``event_seq`` =
        offset + (row_number - 1) * k + i for the i-th of the kind's k event types: unique,
        increasing in file order, and above every earlier source's."""
        specs = _EVENTS[src.kind]
        if not specs:
            return
        con = self.con
        k = len(specs)
        offset = con.execute("SELECT coalesce(max(event_seq), 0) FROM events").fetchone()[0]

        def col(c):
            return ident("v_" + c) if c in fields else "NULL"

        parts = []
        for sub, (etype, date_field) in enumerate(specs):
            if date_field not in fields:
                continue
            cols = []
            for c, _t in EVENT_COLUMNS:
                if c in ("source",):
                    cols.append(lit(src.name))
                elif c == "record_id":
                    cols.append("record_id")
                elif c == "event_date":
                    cols.append(col(date_field))
                elif c == "event_type":
                    cols.append(etype.replace("direction", col("direction")))
                elif c == "event_seq":
                    cols.append(f"{offset} + (row_number - 1) * {k} + {sub + 1}")
                else:
                    cols.append(col(c))
            parts.append(f"SELECT {', '.join(cols)} FROM _ing_typed "
                         f"WHERE reason IS NULL AND {col(date_field)} IS NOT NULL")
        if parts:
            con.execute(f"INSERT INTO events {' UNION ALL '.join(parts)} ORDER BY 5")


_WORK_TABLES = ("_ing_raw", "_ing_scan", "_ing_parse_rej", "_ing_typed", "_ing_dups",
                "_ing_gaps", "_ing_rej_errors", "_ing_rej_scans",
                *(f"_ing_cmap_{f}" for f in sorted(schema.COUNTRY_FIELDS)))


def _drop_temp(con, names=_WORK_TABLES) -> None:
    """Drop per-source working tables and views (views first: one may read a table)."""
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_name LIKE '\\_ing\\_%' ESCAPE '\\'").fetchall())
    for name in names:
        if kinds.get(name) == "VIEW":
            con.execute(f"DROP VIEW IF EXISTS {name}")
    for name in names:
        if name in kinds and kinds[name] != "VIEW":
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _unique_names(header: list[str]) -> list[tuple[str, int]]:
    """Header names made unique for the raw JSON (a repeated name gets a _2, _3 suffix)."""
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        name = h or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append((name, i))
    return out


def ingest(con, config, progress=None) -> dict:
    """Read every source of ``config`` into the DuckDB tables ``records``, ``events``,
    ``rejected`` and ``field_issues`` (replacing them); return per-source counts
    {input_rows, accepted, rejected, field_issues}.

    A row is rejected only when it cannot be identified (id missing, or duplicated within
    the source: every copy is rejected, since none can be told apart) or when the event its
    kind needs cannot be read (border: crossing_date, direction), or when the CSV reader
    cannot split it into the header's fields (ragged rows, broken quoting). Unreadable
    optional values become NULL with a ``field_issues`` row. DESIGN.md "Outputs".
    """
    return Ingestor(con, config, progress).run()
