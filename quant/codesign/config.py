"""What a codesign run is asked to do: :class:`CodesignConfig` (one hardware),
:class:`JointConfig` (a hardware space and the bits together) and the ``--budget`` parser.

Budgets are fractions of uniform 8-bit on the same hardware, or absolute amounts with a unit
(``latency=2ms``, :mod:`quant.codesign.budgets`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwsim.errors import HwsimError, check, check_bits
from quant.codesign.budgets import normalize_budgets, parse_budget_args
from quant.methods import budgeted_methods, check_candidates, make_config, search_method
from quant.options import option
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

    model: str = option("resnet_digits", help="zoo model (default: %(default)s)")
    data: str = option(
        "digits",
        help="digits | cifar10:DIR | mnist:DIR | imagefolder:DIR (DIR/train/<class>/*.jpg|png "
        "and DIR/val/...) (default: digits)",
    )
    # a preset name, a TOML path or a hwsim HardwareConfig (option() returns a field)
    hardware: Any = option(  # noqa: RUF009
        "stripes", help="preset name or TOML file (default: stripes)", cli={"default": None}
    )
    budgets: Mapping[str, float | str] = option(
        default_factory=lambda: {"latency": 0.5},
        flag="--budget",
        help="latency, energy or memory: a fraction of uniform 8-bit on the same hardware "
        "(with --hardware-space: on the first table's base at its default size), or an "
        "amount with a unit (latency=2ms, energy=50uJ, memory=96KiB); repeat or comma-join "
        "for several (default: latency=0.5)",
        parse=lambda specs: parse_budgets(specs) or None,
        cli={"action": "append", "metavar": "METRIC=VALUE", "default": None},
    )
    method: str = option(
        "knapsack",
        help="search method (default: %(default)s)",
        cli={"choices": budgeted_methods},
    )
    method_params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = option(0, help="(default: %(default)s)", cli={"type": int})
    epochs: int = option(  # fine-tuning (and EBS / BSQ search) epochs per policy
        4,
        help="fine-tuning epochs per policy, and EBS/BSQ search epochs (default: %(default)s)",
        cli={"type": int},
    )
    baseline_epochs: int | None = option(
        None,
        help="epochs of the float baseline when one is trained (default: 40)",
        cli={"type": int},
    )
    candidates: tuple[int, ...] = option(
        (2, 3, 4, 6, 8),
        help="candidate bit widths for weights and activations (default: %(default)s)",
        show=lambda bits: ",".join(map(str, bits)),
        parse=lambda text: parse_bits("--candidates", text),
    )
    uniform: tuple[int, ...] = (2, 4, 8)
    reference: tuple[int, int] = (8, 8)
    samples: int = option(  # calibration images (sensitivities, activation steps)
        256,
        help="calibration images for sensitivity and activation steps (default: %(default)s)",
        cli={"type": int},
    )
    lr: float = 5e-4
    checkpoint: str | None = option(
        None,
        help="float baseline: a state_dict of --model, or a whole saved module (default: "
        "train one for --baseline-epochs and cache it)",
        cli={"metavar": "PATH"},
    )
    image_size: int | None = option(
        None,
        help="resolution an image folder is cropped to (default: the model's input size)",
        cli={"type": int},
    )
    finetune_steps: int | None = option(
        None,
        help="fine-tune each policy for this many steps instead of --epochs",
        cli={"type": int},
    )
    sensitivity: str = option(
        "loss",
        help="loss: one forward pass per layer and option; hessian: second-order estimate "
        "from Hessian traces (HAWQ-V2), cheaper on big models (default: %(default)s)",
        cli={"choices": SENSITIVITIES},
    )
    calibration_batch: int = option(
        256, help="batch size of the sensitivity passes (default: %(default)s)", cli={"type": int}
    )
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


DEFAULT_STATES = 1 << 16
"""Knapsack resolution per configuration (state cells): with one budget the slack is cut in
65535 steps, so the policy found is the exact optimum unless another lies within
``layers / 65535`` of the slack of the budget."""


@dataclass(frozen=True)
class JointConfig(CodesignConfig):
    """A :class:`CodesignConfig` (model, data, budgets, candidates, fine-tuning, scale) for a
    search over hardware too. ``max_area``: mm^2 a design may take (``None``: no limit);
    ``finetune_top``: at most this many distinct Pareto policies are fine-tuned;
    ``max_states``: the knapsack's resolution per configuration. ``method`` must be the
    knapsack, and ``hardware`` is not used (the space is given to
    :func:`quant.codesign.run_joint`)."""

    max_area: float | None = option(
        None,
        help="with --hardware-space: leave out configurations larger than this (mm^2)",
        cli={"type": float, "metavar": "MM2"},
    )
    finetune_top: int = option(
        5,
        help="with --hardware-space: fine-tune at most K distinct Pareto policies, least "
        "predicted loss first (default: 5)",
        cli={"type": int, "default": None, "metavar": "K"},
    )
    max_states: int = DEFAULT_STATES

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            self.method == "knapsack",
            "method",
            self.method,
            "the joint search runs the exact knapsack on every configuration",
        )
        check(
            self.max_area is None
            or (
                isinstance(self.max_area, int | float)
                and not isinstance(self.max_area, bool)
                and math.isfinite(self.max_area)
                and self.max_area > 0
            ),
            "max_area",
            self.max_area,
            "must be a number of mm^2 > 0 (or None: no limit)",
        )
        check(
            isinstance(self.finetune_top, int)
            and not isinstance(self.finetune_top, bool)
            and self.finetune_top >= 0,
            "finetune_top",
            self.finetune_top,
            "must be an integer >= 0",
        )
        check(
            isinstance(self.max_states, int) and self.max_states >= 2,
            "max_states",
            self.max_states,
            "must be an integer >= 2",
        )


def parse_budgets(specs: list[str] | None) -> dict[str, float | str]:
    """``["latency=0.5", "energy=50uJ"]`` (or comma-joined) to ``{"latency": 0.5, "energy":
    "50uJ"}``: fractions of uniform 8-bit as floats, absolute amounts with their unit."""
    return parse_budget_args(specs)


def parse_bits(name: str, text: str) -> tuple[int, ...]:
    """``"2,4,8"`` (an option's text) to ``(2, 4, 8)``; anything else is refused by ``name``."""
    try:
        return tuple(int(c) for c in str(text).split(","))
    except ValueError:
        raise HwsimError(name, text, "comma-separated integers") from None
