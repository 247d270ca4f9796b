"""Write bundles atomically: nothing half-written is ever named by a manifest.

``BundleWriter`` builds a new bundle in a temp dir next to the target and renames it at the end (a
failed export leaves nothing behind; ``--force`` replaces an existing bundle only once the new one
is complete). ``BundleUpdate`` adds files to an existing bundle (calibration): new files are staged,
moved in, and the manifest, the only file the runtime trusts, is replaced last through a rename.
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
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as e:
            raise ExportError(str(out), f"cannot create the bundle here: {e.strerror or e}") from None
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


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` through a temp file in its folder and a rename: readers see the old or the new bytes."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BundleUpdate:
    """Adds or replaces files of an existing bundle; ``commit(manifest)`` makes them count.

    Files are staged under ``staging`` (a temp dir inside the bundle, so renames stay on one file
    system); folders named in ``replace_dirs`` are swapped in whole (a stale file of the old folder
    cannot survive), other files one by one; the manifest is written last.
    """

    def __init__(self, bundle: Path, staging: Path) -> None:
        self.bundle = bundle
        self.staging = staging
        self.sha256: dict[str, str] = {}

    def stage(self, rel: str, data: bytes) -> None:
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.sha256[rel] = hashlib.sha256(data).hexdigest()

    def commit(self, manifest: dict, replace_dirs: tuple[str, ...] = ()) -> None:
        from .manifest import dump

        for d in replace_dirs:
            if (self.staging / d).exists():
                old = self.bundle / d
                if old.exists():
                    old.rename(self.staging / f".old-{d}")
                (self.staging / d).rename(old)
        for rel in sorted(self.sha256):
            if rel.split("/", 1)[0] in replace_dirs:
                continue
            target = self.bundle / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / rel, target)
        manifest["files"].update(self.sha256)
        manifest["files"] = dict(sorted(manifest["files"].items()))
        write_atomic(self.bundle / "manifest.yaml", dump(manifest))
