from __future__ import annotations

import os
import subprocess
import sys

from healthex_pipeline.synthetic import SyntheticUser, generate_population

_DIGEST_SCRIPT = """
import hashlib
from healthex_pipeline.synthetic import generate_population
digest = hashlib.sha256()
for user in generate_population(6, seed=11):
    for delivery in user.deliveries:
        for name, data in delivery.files.items():
            digest.update(name.encode() + data)
print(digest.hexdigest())
"""


def _snapshot(
    users: list[SyntheticUser],
) -> list[tuple[str, str, dict[str, bytes], dict[str, int]]]:
    return [
        (user.account_id, delivery.kind, delivery.files, delivery.expected)
        for user in users
        for delivery in user.deliveries
    ]


def test_same_seed_gives_byte_identical_files() -> None:
    first = _snapshot(generate_population(8, seed=3))
    second = _snapshot(generate_population(8, seed=3))
    differing = [a[0] for a, b in zip(first, second, strict=True) if a != b]
    assert differing == [], f"deliveries of {differing} differ between two runs with seed 3"


def test_different_seed_gives_different_files() -> None:
    assert _snapshot(generate_population(8, seed=3)) != _snapshot(generate_population(8, seed=4))


def test_output_does_not_depend_on_the_process_hash_seed() -> None:
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT], env=env, capture_output=True, check=True
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1, f"digests differ across hash seeds: {digests}"
