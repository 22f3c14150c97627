"""The mapping registry: the effective specs, reloaded when a layer's files change.

An authority edits a file in its override directory and the next message uses it: the registry
looks at the files' modification times at most once a second and reloads when they changed. A
reload that fails keeps the last good mappings and reports the error.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from mappings.engine import EffectiveSpec
from mappings.layers import BASE_DIR, SpecError, load_effective

log = logging.getLogger(__name__)


class MappingRegistry:
    def __init__(self, override_dir: Path | None = None, base_dir: Path = BASE_DIR,
                 check_interval: float = 1.0):
        self.base_dir = base_dir
        self.override_dir = override_dir
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._checked_at = 0.0
        self._specs: dict[str, EffectiveSpec] = {}
        self.last_error: str | None = None
        self._load(strict=True)

    def _files_signature(self) -> tuple:
        roots = [self.base_dir] + ([self.override_dir] if self.override_dir else [])
        return tuple(
            (str(path), path.stat().st_mtime_ns)
            for root in roots if root.is_dir() for path in sorted(root.rglob("*.yaml"))
        )

    def _load(self, strict: bool) -> None:
        signature = self._files_signature()
        try:
            self._specs = load_effective(self.base_dir, self.override_dir)
            self.last_error = None
        except SpecError as error:
            if strict:
                raise
            self.last_error = str(error)
            log.error("mappings not reloaded, the last good ones stay in use: %s", error)
        self._signature = signature

    def _fresh(self) -> dict[str, EffectiveSpec]:
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            with self._lock:
                self._checked_at = now
                if self._files_signature() != self._signature:
                    self._load(strict=False)
        return self._specs

    def all(self) -> dict[str, EffectiveSpec]:
        return dict(self._fresh())

    def find(self, kind: str, profile: str, message_type: str) -> EffectiveSpec | None:
        return self._fresh().get(f"{kind}/{profile}/{message_type}")

    def for_system(self, kind: str, profile: str) -> list[EffectiveSpec]:
        return [s for key, s in self._fresh().items() if key.startswith(f"{kind}/{profile}/")]

    def message_types(self, kind: str) -> set[str]:
        return {s.spec.message_type for key, s in self._fresh().items() if key.startswith(f"{kind}/")}

    def identify(self, kind: str, profile: str, document: Any) -> EffectiveSpec | None:
        """Which of the system's specs this parsed document is (by root element, or match)."""
        for effective in self.for_system(kind, profile):
            spec, codec = effective.spec, effective.codec
            if spec.format == "xml":
                if hasattr(document, "tag") and document.tag == codec.root_name(spec.root):
                    return effective
            elif isinstance(document, dict) and all(
                (found := codec.read(document, path)) is not None and str(found.value) == value
                for path, value in spec.match.items()
            ):
                return effective
        return None
