"""Point hashes: the content key under which a sweep stores each result row.

``point_hash`` is a 64-bit hash of (hardware config, workload, policy, engine, package
version); each part is first hashed from its sorted JSON (:func:`sweeps.spec.hash64`), then the
parts are combined with the splitmix64 finalizer, vectorized over a chunk of configs x policies.
A resumed run skips every stored hash, so the key must not depend on where or when a point ran.
"""

from __future__ import annotations

import numpy as np

from sweeps.spec import hash64

_M1, _M2, _GOLD = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijective scramble of uint64 (wraps by design)."""
    z = x + _GOLD
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def point_hashes(hw: np.ndarray, workload: int, policy: np.ndarray, salt: int) -> np.ndarray:
    """int64 ``[len(hw), len(policy)]``: the content hash of every (config, policy) pair."""
    with np.errstate(over="ignore"):
        h = mix64(np.asarray(hw, np.uint64)[:, None] ^ np.uint64(salt))
        h = mix64(h ^ np.uint64(workload))
        h = mix64(h ^ np.asarray(policy, np.uint64)[None, :])
    return h.view(np.int64)


def chunk_hashes(
    space, workload_hash: int, policy_hashes: np.ndarray, hw_idx: np.ndarray, salt: int
):
    """Resolved ``(canonical dict, overrides)`` of each config of ``hw_idx`` in ``space`` and
    the point hashes ``[configs, policies]`` of that chunk."""
    resolved = [space.resolved(int(h)) for h in hw_idx]
    hw_hash = np.array([hash64({"hardware": c}) for c, _ in resolved], dtype=np.uint64)
    return resolved, point_hashes(hw_hash, workload_hash, policy_hashes, salt)


def task_seed(point_hash: int, seed: int) -> int:
    """A task's seed: from the spec seed and the point, never from where the task runs."""
    with np.errstate(over="ignore"):
        x = np.array([point_hash], np.int64).view(np.uint64) ^ np.uint64(seed)
        return int(mix64(x)[0] >> np.uint64(33))
