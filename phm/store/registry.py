"""The model registry of a store: versioned checkpoints per asset type and the active one.

    STORE/models/<asset type>/
        v0001/model.pt      the checkpoint (never changed once registered)
        v0001/meta.json     version, created (ISO UTC), source, dataset, metrics, parent
                            (the version active when it was registered), sha256 of model.pt
        v0002/...
        active              the active version's name, one line (replaced atomically)
        activations.jsonl   every activation and rollback: {"at", "action", "version"}

The monitor reads `active` on every pass and swaps the scorer of that asset type to the
checkpoint it names (phm.monitor.scorer.Monitor). `activate` loads a checkpoint before it
points `active` at it, so a broken file is refused here too; `rollback` goes back to the
version that was active before the current one (a stack: rolling back twice goes back two).
The first version registered becomes active; later ones wait for `activate`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from phm.errors import ConfigError

VERSION_RE = re.compile(r"^v(\d{4,})$")
CHECKPOINT = "model.pt"
META = "meta.json"


class RegistryError(ConfigError):
    """A registry operation that cannot be done: unknown version, nothing to roll back to,
    a checkpoint that does not load."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (the fields of its meta.json)."""

    version: str
    created: str
    source: str
    dataset: str
    parent: str | None
    sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()  # the version's folder

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT


class ModelRegistry:
    """The versions of one asset type's models under `store_dir`/models/`asset_type`."""

    def __init__(self, store_dir: str | Path, asset_type: str = "pump") -> None:
        self.asset_type = asset_type
        self.root = Path(store_dir) / "models" / asset_type

    # --- reading -------------------------------------------------------------------------------

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        if not self.root.is_dir():
            return []
        names = sorted(
            (p.name for p in self.root.iterdir() if VERSION_RE.match(p.name) and p.is_dir()),
            key=lambda n: int(n[1:]),
        )
        return [self.get(n) for n in names if (self.root / n / META).is_file()]

    def get(self, version: str) -> ModelVersion:
        """The registered `version` (e.g. v0002); RegistryError naming the registry if none."""
        folder = self.root / version
        meta = folder / META
        if not VERSION_RE.match(version) or not meta.is_file():
            known = ", ".join(v.version for v in self.versions()) or "none"
            raise RegistryError(f"{self.root}: no version {version!r} (registered: {known})")
        raw = json.loads(meta.read_text())
        return ModelVersion(
            version=raw["version"],
            created=raw["created"],
            source=raw["source"],
            dataset=raw["dataset"],
            parent=raw.get("parent"),
            sha256=raw["sha256"],
            metrics=raw.get("metrics", {}),
            path=folder,
        )

    def active(self) -> str | None:
        """The active version's name, or None when none is active."""
        try:
            name = (self.root / "active").read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def activations(self) -> list[dict[str, Any]]:
        """The activation log, oldest first."""
        log = self.root / "activations.jsonl"
        if not log.is_file():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    # --- writing -------------------------------------------------------------------------------

    def register(
        self, checkpoint: str | Path, source: str, metrics: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Copy `checkpoint` in as the next version with its metadata; it becomes active when
        no version is. The checkpoint must load (RegistryError otherwise)."""
        header = _load_header(Path(checkpoint))
        with self._locked():
            last = [int(v.version[1:]) for v in self.versions()]
            version = f"v{(max(last) if last else 0) + 1:04d}"
            folder = self.root / version
            tmp = self.root / f".{version}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            shutil.copyfile(checkpoint, tmp / CHECKPOINT)
            meta = {
                "version": version,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": source,
                "dataset": header.dataset,
                "parent": self.active(),
                "sha256": _sha256(tmp / CHECKPOINT),
                "metrics": metrics or {},
            }
            (tmp / META).write_text(json.dumps(meta, indent=2, default=float) + "\n")
            os.replace(tmp, folder)
            if self.active() is None:
                self._point(version, "activate")
        return self.get(version)

    def activate(self, version: str) -> ModelVersion:
        """Point `active` at `version` after checking that its checkpoint loads and is intact."""
        mv = self.get(version)
        self._check(mv)
        with self._locked():
            self._point(version, "activate")
        return mv

    def rollback(self) -> ModelVersion:
        """Re-activate the version active before the current one (RegistryError if none)."""
        stack: list[str] = []
        for entry in self.activations():
            if entry["action"] == "activate":
                stack.append(entry["version"])
            elif entry["action"] == "rollback" and stack:
                stack.pop()
        # the current version is the top; consecutive repeats of it are one activation
        while len(stack) > 1 and stack[-2] == stack[-1]:
            stack.pop()
        if len(stack) < 2:
            raise RegistryError(f"{self.root}: no earlier active version to roll back to")
        previous = self.get(stack[-2])
        self._check(previous)
        with self._locked():
            self._point(previous.version, "rollback")
        return previous

    def _check(self, mv: ModelVersion) -> None:
        if not mv.checkpoint.is_file():
            raise RegistryError(f"{mv.checkpoint}: the checkpoint of {mv.version} is missing")
        if _sha256(mv.checkpoint) != mv.sha256:
            raise RegistryError(f"{mv.checkpoint}: checksum differs from its meta.json")
        _load_header(mv.checkpoint)

    def _point(self, version: str, action: str) -> None:
        tmp = self.root / ".active.tmp"
        tmp.write_text(version + "\n")
        os.replace(tmp, self.root / "active")  # readers see the old name or the new one
        entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "action": action,
                 "version": version}  # fmt: skip
        with open(self.root / "activations.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    @contextlib.contextmanager
    def _locked(self, timeout_s: float = 30.0) -> Iterator[None]:
        """One writer at a time (a lock file created exclusively)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = self.root / ".lock"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"{lock}: another registry write holds the lock (remove the file if "
                        "no `phm train` or `phm models` is running)"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            os.close(fd)
            lock.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_header(path: Path) -> Any:
    """The checkpoint's header, or a RegistryError naming the file and why it does not load."""
    from phm.models.model import load_checkpoint

    try:
        _, header = load_checkpoint(path)
    except Exception as exc:
        raise RegistryError(f"{path}: not a loadable checkpoint ({exc})") from exc
    return header


__all__ = ["ModelRegistry", "ModelVersion", "RegistryError"]
