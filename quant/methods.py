"""One protocol for every quantization method, and the one registry of them.

A method is a frozen config dataclass (validated on construction, so a bad value fails with a
:class:`hwsim.HwsimError` naming the field) and two steps:

- ``search(model, data, config, problem=None) -> SearchResult(model, policy, extras)``: on a
  copy of the float ``model``, choose each layer's bits. ``problem`` states the search in a
  caller's costs (a :class:`SearchProblem`: per-(layer, bits) costs, sensitivities, budgets);
  ``None`` runs the method's own objective from its paper. ``result.model`` is the searched
  model, ready for ``finetune``; ``extras`` holds what else the method reports (``notes``, a
  history, per-layer fits).
- ``finetune(result, data, config) -> nn.Module``: train the searched model at its bits.

Every caller reads the registry: ``quantize_model(model, name_or_config, calibration=data)``
runs search then finetune, ``quant.codesign`` runs ``search`` under a hardware budget for the
methods that take one (:func:`budgeted_methods`, also the CLI's ``--method`` choices), and a
sweep's ``codesign`` trainer goes through ``quant.codesign``. A new method is one module that
ends with ``register_method(...)``, listed in :data:`BUILTIN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hwsim.errors import HwsimError, check
from hwsim.policy import BitPolicy

if TYPE_CHECKING:
    from torch import nn

    from hwsim.hardware.report import CostTable

BUILTIN_MODULES: tuple[str, ...] = (
    "quant.direct",
    "quant.bsq",
    "quant.bottleneck",
    "quant.ebs",
    "quant.search.hardware_aware",
)
"""Modules whose import registers the built-in methods (imported on first use)."""

Pricer = Callable[[Sequence[int], Sequence[int]], np.ndarray]
"""``price(w_bits, a_bits) -> [layer, w option, a option]`` cost of the budget's first metric
at any bits, for a method that needs bits outside the candidates (BSQ's marginal costs)."""


@dataclass(frozen=True, eq=False)
class SearchProblem:
    """A search stated in a caller's costs: one config's ``table`` of per-(layer, bits) costs
    over the candidates, the ``sensitivity`` (loss increase) of each entry where the caller
    measured it, and absolute ``budgets`` by table metric; the first budget is the one a
    single-objective method works against. ``price``: the same cost model at any bits
    (``None`` when the table is a proxy without one)."""

    table: CostTable
    budgets: Mapping[str, float]
    sensitivity: np.ndarray | None = None
    price: Pricer | None = None

    def __post_init__(self) -> None:
        check(len(self.budgets) > 0, "budgets", dict(self.budgets), "need at least one budget")
        shape = (len(self.table.layer_names), len(self.table.w_bits), len(self.table.a_bits))
        for metric, value in self.budgets.items():
            check(
                self.table.metric(metric).shape == shape,
                "table",
                self.table.metric(metric).shape,
                f"one hardware config's table, [layers, w options, a options] = {shape}",
            )
            check(0 < value < np.inf, f"budgets[{metric}]", value, "must be a number > 0")
        object.__setattr__(self, "budgets", dict(self.budgets))
        if self.sensitivity is not None:
            sens = np.asarray(self.sensitivity, dtype=np.float64)
            check(
                sens.shape == shape,
                "sensitivity.shape",
                sens.shape,
                f"must be the table's [layers, w options, a options] = {shape}",
            )
            object.__setattr__(self, "sensitivity", sens)

    @property
    def primary(self) -> str:
        """The budget a single-objective method (EBS, BSQ) works against."""
        return next(iter(self.budgets))


@dataclass
class SearchResult:
    """What a search returns: the searched model (ready for ``finetune``), its bits, and the
    method's other outputs by name (``notes``: lines for a report)."""

    model: nn.Module
    policy: BitPolicy
    extras: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SearchMethod(Protocol):
    """A quantization method: see the module docstring.

    ``budgeted``: whether ``search`` honours a :class:`SearchProblem`'s budgets (the methods
    ``quant.codesign`` can run). ``codesign_defaults``: the config fields codesign starts from
    where they differ from the config's own defaults. A method whose config constrains the
    candidates may also define ``check_candidates(config, w_bits, a_bits)`` (raising
    ``HwsimError``), which :func:`check_candidates` calls before any work is done.
    """

    name: ClassVar[str]
    config_type: ClassVar[type]
    budgeted: ClassVar[bool]
    codesign_defaults: ClassVar[Mapping[str, Any]]

    def search(
        self,
        model: nn.Module,
        data: Any,
        config: Any,
        problem: SearchProblem | None = None,
        *,
        progress: bool | None = None,
    ) -> SearchResult: ...

    def finetune(
        self, result: SearchResult, data: Any, config: Any, *, progress: bool | None = None
    ) -> nn.Module: ...


_METHODS: dict[str, SearchMethod] = {}


def register_method(method: SearchMethod) -> SearchMethod:
    """Add ``method`` to the registry under ``method.name`` (and its config type)."""
    check(
        isinstance(method, SearchMethod),
        "method",
        type(method).__name__,
        "must implement quant.methods.SearchMethod (name, config_type, search, finetune)",
    )
    for other in _METHODS.values():
        check(
            other.name == method.name or other.config_type is not method.config_type,
            "method.config_type",
            method.config_type.__name__,
            f"already the config of method {other.name!r}",
        )
    _METHODS[method.name] = method
    return method


def _load_builtin_methods() -> None:
    # Methods register on import; imported lazily to keep `import quant` light and acyclic.
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def methods() -> list[str]:
    """Names of every registered method."""
    _load_builtin_methods()
    return sorted(_METHODS)


def budgeted_methods() -> tuple[str, ...]:
    """Names of the methods that search within a budget (what codesign can run)."""
    _load_builtin_methods()
    return tuple(sorted(n for n, m in _METHODS.items() if m.budgeted))


def search_method(name_or_config: Any) -> SearchMethod:
    """The registered method by name, or the one whose config type ``name_or_config`` is."""
    _load_builtin_methods()
    if isinstance(name_or_config, str):
        if name_or_config in _METHODS:
            return _METHODS[name_or_config]
    else:
        for method in _METHODS.values():
            if type(name_or_config) is method.config_type:
                return method
    raise HwsimError(
        "method", name_or_config, f"not a registered method or its config ({methods()})"
    )


def make_config(method: SearchMethod, params: Any = None, **overrides: Any) -> Any:
    """``method``'s config from a config object, a mapping of fields, or ``None`` (defaults);
    ``overrides`` set fields the config has and were not given in a mapping (others are
    ignored, so a caller may pass e.g. ``epochs`` to every method)."""
    if isinstance(params, method.config_type):
        return params
    check(
        params is None or isinstance(params, Mapping),
        "method_params",
        params,
        f"must be a mapping of {method.config_type.__name__} fields",
    )
    given = dict(params or {})
    names = {f.name for f in fields(method.config_type)}
    unknown = sorted(set(given) - names)
    check(
        not unknown,
        "method_params",
        unknown,
        f"not fields of {method.config_type.__name__} ({sorted(names)})",
    )
    extra = {k: v for k, v in overrides.items() if k in names and k not in given}
    return replace(method.config_type(**given), **extra) if extra else method.config_type(**given)


def check_candidates(
    method: SearchMethod, config: Any, w_bits: Sequence[int], a_bits: Sequence[int]
) -> None:
    """Fail early, naming the field, if ``config`` cannot search these candidate bits."""
    hook = getattr(method, "check_candidates", None)
    if hook is not None:
        hook(config, w_bits, a_bits)


def check_covers(policy: BitPolicy, layer_names: Sequence[str], method: str) -> None:
    """Raise unless ``policy`` gives bits to every row of ``layer_names`` (a table's or a
    workload's), naming the rows the method could not search: an activation x activation
    product whose model has no quantizable product slot is refused, never silently skipped."""
    missing = [n for n in layer_names if n not in policy.bits]
    check(
        not missing,
        "policy.layers",
        missing[:10],
        f"{method} could not search {len(missing)} row(s) of the workload: the model has no "
        "quantizable layer or product slot by these names",
    )


def require_dataset(data: Any, method: str) -> None:
    """A method that trains needs a dataset (``x_train``, ``y_train``, or an image folder), not
    a batch."""
    from models.data import is_dataset

    check(
        is_dataset(data),
        "calibration",
        type(data).__name__,
        f"{method} trains: pass the dataset (with x_train, y_train)",
    )


def finetune_plain(
    result: SearchResult, data: Any, config: Any, *, progress: bool | None = None
) -> nn.Module:
    """Fine-tuning for a method whose searched model trains as it is: ``config.finetune_epochs``
    of ``quant.train.train`` at ``config.lr`` and ``config.seed``."""
    from quant.train import train

    if config.finetune_epochs > 0:
        require_dataset(data, "fine-tuning")
        train(
            result.model,
            data,
            epochs=config.finetune_epochs,
            lr=config.lr,
            seed=config.seed,
            progress=progress,
        )
    return result.model


def check_count(field: str, value: Any, minimum: int) -> int:
    """A config's integer field (epochs, seed): an ``int`` (not a bool) of at least ``minimum``."""
    check(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        field,
        value,
        f"must be an integer >= {minimum}",
    )
    return value


def check_positive(field: str, value: Any) -> float:
    """A config's real field that must be finite and > 0 (a learning rate, a budget)."""
    check(
        isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < np.inf,
        field,
        value,
        "must be a finite number > 0",
    )
    return float(value)


def check_non_negative(field: str, value: Any) -> float:
    """A config's real field that must be finite and >= 0 (a penalty strength)."""
    check(
        isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < np.inf,
        field,
        value,
        "must be a finite number >= 0",
    )
    return float(value)
