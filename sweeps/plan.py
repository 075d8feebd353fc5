"""The plan of a sweep: each workload loaded once, with the policies that apply to it.

Point indices enumerate the spec in a fixed order (workload, then hardware config, then
policy): the point of (workload ``k``, config ``h``, policy slot ``j``) is
``plans[k].offset + h * len(plans[k].entries) + j``. A policy that cannot run on its workload
stays in the plan with its ``error``, so its points become failed rows rather than gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from sweeps.spec import PolicyRef, SweepSpec, TrainSpec, hash64, workload_hash


@dataclass
class PolicyEntry:
    """One policy (or ``[[train]]`` table) of one workload."""

    label: str
    ref: PolicyRef | TrainSpec
    hash: int
    policy: Any = None  # BitPolicy (None for train entries)
    error: str = ""  # why this policy cannot run on the workload
    w_bits: int = -1  # uniform bits, or -1 for a mixed policy
    a_bits: int = -1

    @property
    def is_train(self) -> bool:
        return isinstance(self.ref, TrainSpec)


@dataclass
class WorkloadPlan:
    """A loaded workload, its policy entries and the index of its first point."""

    label: str
    workload: Any
    hash: int
    entries: list[PolicyEntry]
    offset: int  # index of this workload's first point
    zoo: str | None = None  # the zoo network it was extracted from

    def point_index(self, hw_index: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """The global point index of (config ``hw_index``, policy ``slot``) pairs."""
        return self.offset + np.asarray(hw_index, np.int64) * len(self.entries) + slot


def _policy_entry(pref: PolicyRef, wref, workload) -> PolicyEntry:
    entry = PolicyEntry(pref.label, pref, 0)
    try:
        pol = pref.load(wref, workload)
        pol.check_matches(workload)
        entry.policy = pol
        w, a = pol.arrays(workload)
        if np.all(w == w[0]) and np.all(a == a[0]):
            entry.w_bits, entry.a_bits = int(w[0]), int(a[0])
        entry.hash = hash64({"policy": pol.to_dict()})
    except HwsimError as exc:
        entry.error = str(exc)
        entry.hash = hash64({"policy_ref": pref.label, "path": pref.path})
    return entry


def make_plans(spec: SweepSpec) -> list[WorkloadPlan]:
    """Load every workload and policy of ``spec`` once, in point order."""
    plans, offset = [], 0
    for wref in spec.workloads:
        wl = wref.load()
        entries = [_policy_entry(p, wref, wl) for p in spec.policies if p.applies_to(wref)]
        entries += [
            PolicyEntry(
                t.label, t, hash64({"train": t.method, "params": dict(t.params), "seed": spec.seed})
            )
            for t in spec.train
            if t.workload == wref.label
        ]
        plans.append(WorkloadPlan(wref.label, wl, workload_hash(wl), entries, offset, zoo=wref.zoo))
        offset += len(spec.hardware) * len(entries)
    return plans


def split_slots(
    plans: list[WorkloadPlan], all_general: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Policy slots per workload for the fast path and for the general path.

    Training always takes the general path; everything does when ``all_general``.
    """
    fast, general = {}, {}
    for plan in plans:
        is_general = np.array([e.is_train for e in plan.entries], bool) | all_general
        fast[plan.label] = np.flatnonzero(~is_general)
        general[plan.label] = np.flatnonzero(is_general)
    return fast, general


def hw_chunks(n_configs: int, n_policies: int, chunk_size: int):
    """Config index ranges holding about ``chunk_size`` points each."""
    step = max(1, chunk_size // n_policies)
    for h0 in range(0, n_configs, step):
        yield np.arange(h0, min(n_configs, h0 + step), dtype=np.int64)
