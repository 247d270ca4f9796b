"""Write a bundle directory atomically: build in a temp dir next to the target, rename at the end.

A failed export leaves nothing behind; ``--force`` replaces an existing bundle only once the new one
is complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ExportError


class BundleWriter:
    """Collects files into a staging dir; ``commit()`` moves them into place, ``abort()`` removes them."""

    def __init__(self, out: Path, force: bool) -> None:
        self.out = out
        if out.exists():
            if not out.is_dir():
                raise ExportError(str(out), "--out exists and is not a directory")
            if any(out.iterdir()) and not force:
                raise ExportError(str(out), "--out exists and is not empty (use --force to replace it)")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        self.sha256: dict[str, str] = {}

    def write(self, rel: str, data: bytes) -> None:
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.sha256[rel] = hashlib.sha256(data).hexdigest()

    def commit(self) -> None:
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
        os.replace(self.staging, self.out)
        os.chmod(self.out, 0o755)  # mkdtemp creates 0700
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
