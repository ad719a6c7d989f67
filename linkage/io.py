"""Atomic output helpers: nothing half-written is ever left behind.

Each writer writes to a temporary file in the target's directory and renames it over the
target (``os.replace`` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, obj, **kwargs) -> Path:
    kwargs.setdefault("indent", 2)
    return write_text(target, json.dumps(obj, **kwargs) + "\n")


def write_df_parquet(target: str | os.PathLike, df) -> Path:
    """Write a pandas DataFrame to Parquet atomically."""
    with atomic_path(target, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    return Path(target)


def write_df_csv(target: str | os.PathLike, df) -> Path:
    with atomic_path(target, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)
    return Path(target)


def export_table(con, table: str, target: str | os.PathLike, fmt: str = "parquet") -> Path:
    """Export a DuckDB table (or a SELECT in parentheses) to Parquet/CSV atomically."""
    src = table if table.lstrip().startswith("(") else f'"{table}"'
    opts = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with atomic_path(target, suffix=f".{fmt}") as tmp:
        con.execute(f"COPY {src} TO '{tmp}' ({opts})")
    return Path(target)
