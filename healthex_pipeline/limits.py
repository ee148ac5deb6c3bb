"""Resource limits on input: safe defaults, raised or lowered by environment variables.

Input is hostile until read: a file, its decompressed size, its compression ratio and its JSON
nesting are each bounded before the bytes reach DuckDB or Python's parsers. The defaults bound
memory on a small machine and still fit the largest real exports seen; an operator with bigger
deliveries sets the variables below. Defaults are read once, when this module is imported, so
``IngestLimits()`` anywhere (and the Dagster storage resource's fields) pick them up; code that
must see a later change calls ``IngestLimits.from_env()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SAFE_DEFAULTS: dict[str, int] = {
    "max_file_bytes": 2 << 30,
    "max_decompressed_bytes": 2 << 30,
    "max_compression_ratio": 200,
    "max_json_depth": 100,
}
"""Why these: a 2 GiB file is beyond any single patient's export seen; decompressed JSON is held
in memory several times over while it is framed and parsed, so 2 GiB is the most a worker should
inflate; gzip of FHIR JSON rarely passes 30:1, while a bomb reaches 1000:1; a FHIR resource in a
Bundle nests about 15 levels deep, Questionnaire items and extensions a few dozen at most."""

ENV_VARS: dict[str, str] = {
    "max_file_bytes": "HEALTHEX_MAX_FILE_BYTES",
    "max_decompressed_bytes": "HEALTHEX_MAX_DECOMPRESSED_BYTES",
    "max_compression_ratio": "HEALTHEX_MAX_COMPRESSION_RATIO",
    "max_json_depth": "HEALTHEX_MAX_JSON_DEPTH",
}

RATIO_FLOOR_BYTES = 1 << 20
"""The compression ratio is only held against output past this size, so small files never trip."""


def configured(environ: Mapping[str, str]) -> dict[str, int]:
    """Each limit from its environment variable when set, else its safe default.

    Raises ValueError naming the variable when a value is not a positive integer, so a typo
    fails at start-up rather than silently disabling a limit.
    """
    values = dict(SAFE_DEFAULTS)
    for field, variable in ENV_VARS.items():
        raw = environ.get(variable, "").strip().replace("_", "")
        if not raw:
            continue
        if not raw.isdigit() or int(raw) <= 0:
            raise ValueError(f"{variable} must be a positive integer")
        values[field] = int(raw)
    return values


_AT_IMPORT = configured(os.environ)


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on one input object; defaults are the environment's at import, else safe ones."""

    max_file_bytes: int = _AT_IMPORT["max_file_bytes"]
    max_decompressed_bytes: int = _AT_IMPORT["max_decompressed_bytes"]
    max_compression_ratio: int = _AT_IMPORT["max_compression_ratio"]
    max_json_depth: int = _AT_IMPORT["max_json_depth"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestLimits:
        """The limits the environment configures now (``os.environ`` unless given)."""
        return cls(**configured(os.environ if environ is None else environ))

    def inflate_bound(self, compressed_bytes: int) -> int:
        """The most bytes ``compressed_bytes`` may inflate to: size and ratio limits together."""
        by_ratio = max(RATIO_FLOOR_BYTES, self.max_compression_ratio * compressed_bytes)
        return min(self.max_decompressed_bytes, by_ratio)

    def inflate_reason(self, compressed_bytes: int) -> str:
        """Why output past ``inflate_bound`` is refused: whichever limit set the bound."""
        if self.inflate_bound(compressed_bytes) >= self.max_decompressed_bytes:
            return "decompressed size exceeds the configured limit"
        return "compression ratio exceeds the configured limit"
