"""The content-addressed record store under OOSPATH_RECORD_STORE (OOS-17).

Content is written once under ``<sha[:2]>/<sha>``; an existing file is never
overwritten (same hash, same bytes) and nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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


class _HashingWriter:
    """A binary file that hashes and counts what is written to it."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._handle.write(data)


def store_stream(root: Path, write: Callable[[BinaryIO], object]) -> tuple[str, int]:
    """Content too large to hold in memory: ``write`` writes it to a file, hashed on the way, then kept like
    :func:`store_content` keeps bytes. Returns (sha256, size)."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=root, prefix=".incoming-", suffix=".partial", delete=False) as handle:
        hashing = _HashingWriter(handle)
        try:
            write(hashing)  # type: ignore[arg-type]
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    digest = hashing.digest.hexdigest()
    target = root / digest[:2] / digest
    if target.exists():
        os.unlink(handle.name)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(handle.name, 0o644)  # as store_content's files; the temporary file was private while written
        os.replace(handle.name, target)
    return digest, hashing.size
