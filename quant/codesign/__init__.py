"""The closed loop: choose bitwidths against simulated hardware cost, fine-tune, compare.

``config`` says what to run, ``problem`` prices it once (:class:`CodesignProblem`: the workload,
the hardware, the cost tables, the budgets; :class:`JointProblem` the same over a hardware
space), ``run`` runs it (:func:`run_codesign`), ``report`` and ``plots`` write the run folder;
``joint`` searches a hardware space and the bits together (:func:`run_joint`, written by
:func:`write_joint`); ``budgets`` reads budgets as fractions or amounts. Everything a caller
needs is importable from ``quant.codesign``.
"""

from quant.codesign.budgets import BudgetWarning
from quant.codesign.config import BUDGET_TOLERANCE, CodesignConfig, JointConfig, parse_budgets
from quant.codesign.joint import JointResult, run_joint, search_designs
from quant.codesign.joint_report import write_joint
from quant.codesign.plots import plot_bits, plot_pareto
from quant.codesign.problem import CodesignProblem, JointProblem
from quant.codesign.report import format_table, report_markdown, write_run
from quant.codesign.run import (
    CodesignResult,
    Prepared,
    cost_row,
    finetuned_accuracy,
    prepare,
    run_codesign,
)

__all__ = [
    "BUDGET_TOLERANCE",
    "BudgetWarning",
    "CodesignConfig",
    "CodesignProblem",
    "CodesignResult",
    "JointConfig",
    "JointProblem",
    "JointResult",
    "Prepared",
    "cost_row",
    "finetuned_accuracy",
    "format_table",
    "parse_budgets",
    "plot_bits",
    "plot_pareto",
    "prepare",
    "report_markdown",
    "run_codesign",
    "run_joint",
    "search_designs",
    "write_joint",
    "write_run",
]
