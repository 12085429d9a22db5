"""The content-addressed record store under OOSPATH_RECORD_STORE (OOS-17).

Content is written once under ``<sha[:2]>/<sha>``; an existing file is never
overwritten (same hash, same bytes) and nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def store_content(root: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()
    target = root / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".partial")
        temporary.write_bytes(content)
        os.replace(temporary, target)
    return digest


def read_content(root: Path, digest: str) -> bytes:
    return (root / digest[:2] / digest).read_bytes()
