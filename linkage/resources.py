"""Where miglink's data files (the default column mappings in ``configs/``) live.

An editable install (``pip install -e``) keeps ``configs/`` at the repository root beside the
``linkage`` package; a regular install puts it in ``sys.prefix/share/miglink/configs`` (the
``data-files`` of pyproject.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import MiglinkError


def configs_dir() -> Path:
    """The folder holding ``<kind>.yaml`` default mappings; a MiglinkError if it is missing."""
    candidates = [
        Path(__file__).resolve().parent.parent / "configs",
        Path(sys.prefix) / "share" / "miglink" / "configs",
        Path(sys.base_prefix) / "share" / "miglink" / "configs",
    ]
    for c in candidates:
        if (c / "generic.yaml").is_file():
            return c
    raise MiglinkError("miglink's configs folder is missing from the installation; looked in "
                       + ", ".join(str(c) for c in candidates))
