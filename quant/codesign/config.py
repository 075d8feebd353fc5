"""What a codesign run is asked to do: :class:`CodesignConfig` and the ``--budget`` parser.

Budgets are fractions of uniform 8-bit on the same hardware, or absolute amounts with a unit
(``latency=2ms``, :mod:`quant.codesign.budgets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwsim.errors import check, check_bits
from quant.codesign.budgets import normalize_budgets, parse_budget_args
from quant.methods import budgeted_methods, check_candidates, make_config, search_method
from quant.search.hardware_aware import candidates
from quant.search.sensitivity import SENSITIVITIES

BUDGET_TOLERANCE = 1e-9  # relative: totals within float rounding of a budget fit it


@dataclass(frozen=True)
class CodesignConfig:
    """What the main job runs. Budgets are fractions of uniform 8-bit on the same hardware.

    ``method`` is a registered method that searches within a budget
    (:func:`quant.methods.budgeted_methods`); ``method_params`` are fields of its config,
    over the method's ``codesign_defaults``. Its search runs ``epochs`` (at least one) with
    ``seed`` unless ``method_params`` says otherwise; ``method_config`` is the result.

    Scale: ``checkpoint`` is the user's float baseline (else one is trained for
    ``baseline_epochs`` and cached); ``image_size`` sets an image folder's resolution (default:
    the model's); ``finetune_steps`` replaces ``epochs`` of fine-tuning by that many steps;
    ``sensitivity`` is ``loss`` (one pass per option) or ``hessian`` (second order,
    ``hessian_probes`` per batch), both on ``samples`` calibration images in batches of
    ``calibration_batch``.

    The config says what to compute; how it runs (device, torch threads, DataLoader workers,
    sensitivity-scan processes) is a :class:`quant.runtime.Runtime` given to the run beside it.
    """

    model: str = "resnet_digits"
    data: str = "digits"
    hardware: Any = "stripes"  # a preset name, a TOML path or a hwsim HardwareConfig
    budgets: Mapping[str, float | str] = field(default_factory=lambda: {"latency": 0.5})
    method: str = "knapsack"
    method_params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    epochs: int = 4  # fine-tuning (and EBS / BSQ search) epochs per policy
    baseline_epochs: int | None = None
    candidates: tuple[int, ...] = (2, 3, 4, 6, 8)
    uniform: tuple[int, ...] = (2, 4, 8)
    reference: tuple[int, int] = (8, 8)
    samples: int = 256  # calibration images (sensitivities, activation steps)
    lr: float = 5e-4
    checkpoint: str | None = None
    image_size: int | None = None
    finetune_steps: int | None = None
    sensitivity: str = "loss"
    calibration_batch: int = 256
    hessian_probes: int = 16
    method_config: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        methods = budgeted_methods()
        check(self.method in methods, "method", self.method, f"must be one of {methods}")
        # A fraction of uniform 8-bit (a float) or an amount with its unit ("2ms").
        object.__setattr__(self, "budgets", normalize_budgets(self.budgets))
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "must be >= 0")
        check(
            isinstance(self.epochs, int) and self.epochs >= 0,
            "epochs",
            self.epochs,
            "must be an integer >= 0",
        )
        cands = candidates("candidates", self.candidates)
        # 1 is a candidate too: binary weights (+-1, XNOR-Net's scale), priced as +-1.
        object.__setattr__(self, "candidates", cands)
        for b in (*self.uniform, *self.reference):
            check_bits("uniform", b)
        check(
            self.reference[0] in cands and self.reference[1] in cands,
            "reference",
            self.reference,
            f"must be among the candidates {cands}",
        )
        check(self.samples >= 1, "samples", self.samples, "must be >= 1")
        for name in ("calibration_batch", "hessian_probes", "image_size"):
            value = getattr(self, name)
            check(
                (value is None and name == "image_size")
                or (isinstance(value, int) and not isinstance(value, bool) and value >= 1),
                name,
                value,
                "must be an integer >= 1",
            )
        check(
            self.finetune_steps is None
            or (isinstance(self.finetune_steps, int) and self.finetune_steps >= 0),
            "finetune_steps",
            self.finetune_steps,
            "must be an integer >= 0 (or None: whole epochs)",
        )
        check(
            self.sensitivity in SENSITIVITIES,
            "sensitivity",
            self.sensitivity,
            f"must be one of {SENSITIVITIES}",
        )
        method = search_method(self.method)
        params = {**method.codesign_defaults, **dict(self.method_params or {})}
        object.__setattr__(self, "method_params", dict(self.method_params or {}))
        method_config = make_config(method, params, epochs=max(self.epochs, 1), seed=self.seed)
        check_candidates(method, method_config, cands, cands)
        object.__setattr__(self, "method_config", method_config)


def parse_budgets(specs: list[str] | None) -> dict[str, float | str]:
    """``["latency=0.5", "energy=50uJ"]`` (or comma-joined) to ``{"latency": 0.5, "energy":
    "50uJ"}``: fractions of uniform 8-bit as floats, absolute amounts with their unit."""
    return parse_budget_args(specs)
