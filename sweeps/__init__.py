"""Design-space sweeps, Pareto analysis, plots and the ``hwsim`` command line.

``run_sweep(spec, out)`` evaluates a spec (:mod:`sweeps.spec`) into a results folder
(:mod:`sweeps.store`), ``load_results(out)`` reads it back as a DataFrame, and ``pareto`` /
``hypervolume`` analyse it. Heavy parts load on first use.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "SweepSpec": "sweeps.spec",
    "load_spec": "sweeps.spec",
    "parse_spec": "sweeps.spec",
    "run_sweep": "sweeps.run",
    "register_trainer": "sweeps.run",
    "SweepSummary": "sweeps.run",
    "load_results": "sweeps.store",
    "ResultStore": "sweeps.store",
    "make_executor": "sweeps.executors",
    "pareto": "sweeps.pareto",
    "pareto_mask": "sweeps.pareto",
    "hypervolume": "sweeps.pareto",
    "plot_front": "sweeps.plots",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sweeps' has no attribute {name!r}")


__all__ = sorted(_LAZY)
