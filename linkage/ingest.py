"""Ingestion: every source file into the DuckDB tables records, events, rejected, field_issues.

Contracts: DESIGN.md "Outputs" (row accounting: input rows = records + rejected, nothing
dropped silently) and docs/internals.md "Tables" (exact schemas).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

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
    encoding: str | None = None      # DuckDB encoding name: utf-8 | latin-1 | utf-16
    delimiter: str | None = None


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
        # Not UTF-8: every byte is valid latin-1 (ISO 8859-1), the usual legacy encoding.
        return "latin-1", sample


def _decode(sample: bytes, encoding: str) -> str:
    if encoding == "utf-16":
        return sample.decode("utf-16", errors="ignore")
    if encoding == "latin-1":
        return sample.decode("latin-1")
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
    first_line = text.split("\n", 1)[0]
    delimiter = _detect_delimiter(first_line if first_line.count('"') % 2 == 0 else text)
    header = tuple(h.strip().lstrip("\ufeff") for h in _first_record(text, delimiter))
    if not any(header):
        raise MiglinkError("has no header line (the first line is empty)", file=path)
    return SourceFile(path, "csv", header, encoding, delimiter)
