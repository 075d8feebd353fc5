"""The two entry points: ``simulate`` one policy, ``cost_table`` for every bit option."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING
from hwsim.errors import HwsimError, check, check_bits
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.encodings import (
    encoding_codes,
    encoding_notes,
    policy_points,
    run_key,
    run_points,
)
from hwsim.hardware.registry import Points, get_family, load_hardware
from hwsim.hardware.report import METRICS, CostReport, CostTable, precision_notes
from hwsim.hardware.skeleton import missing_stats_notes
from hwsim.policy import BitPolicy
from hwsim.workload import Workload

HardwareLike = HardwareConfig | str | Path


def simulate(workload: Workload, policy: BitPolicy, hardware: HardwareLike) -> CostReport:
    """Per-layer cycles, energy, memory traffic and footprints of ``workload`` at ``policy``."""
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    check(
        isinstance(policy, BitPolicy), "policy", type(policy).__name__, "must be a hwsim.BitPolicy"
    )
    hw = load_hardware(hardware)
    points = policy_points(workload, policy)
    w_bits, a_bits, stats = points.w_bits, points.a_bits, points.stats
    metrics = _evaluate([hw], points)
    report = CostReport.from_metrics(
        workload, w_bits, a_bits, hw, {k: v[0] for k, v in metrics.items()}
    )
    run = run_points(hw, points)
    if run is not points:
        # A width the encoding widened is said once, by its encoding note below, not as a
        # precision the family lacks.
        shown = report.layers.assign(w_bits=run.w_bits, a_bits=run.a_bits)
        generic = precision_notes(hw, report.layers)
        report.notes[:] = precision_notes(hw, shown) + [n for n in report.notes if n not in generic]
    report.notes.extend(missing_stats_notes(hw, workload.layer_names, stats))
    report.notes.extend(
        encoding_notes(hw, hw.name, workload.layer_names, points.w_encoding, points.a_encoding)
    )
    return report


def cost_table(
    workload: Workload,
    hardware: HardwareLike | Sequence[HardwareLike],
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    policy: BitPolicy | None = None,
    *,
    w_encodings: Sequence[str | None] | None = None,
    a_encodings: Sequence[str | None] | None = None,
) -> CostTable:
    """Latency, energy and memory of every layer at every (w, a) option, in one call per family.

    ``hardware`` may be one config (arrays ``[L, nw, na]``) or several (``[H, L, nw, na]``).
    ``policy`` lends its measured statistics to data-dependent families, and its encodings.
    ``w_encodings`` / ``a_encodings``: the encoding of each option (one per entry of
    ``w_bits`` / ``a_bits``, e.g. ``("bipolar", None, None)`` for options ``(1, 2, 4)``); None
    takes the layer's own from ``policy`` where it fits the option's bits, else the operand's
    default (signed weights, unsigned activations).
    """
    check(
        isinstance(workload, Workload),
        "workload",
        type(workload).__name__,
        "must be a hwsim.Workload",
    )
    single = isinstance(hardware, HardwareConfig | str | Path)
    configs = [load_hardware(h) for h in ([hardware] if single else hardware)]
    check(len(configs) > 0, "hardware", hardware, "need at least one config")
    w_opts = np.array([check_bits("w_bits", b, allow_float=True) for b in w_bits], np.int64)
    a_opts = np.array([check_bits("a_bits", b, allow_float=True) for b in a_bits], np.int64)
    check(len(w_opts) > 0, "w_bits", w_bits, "need at least one option")
    check(len(a_opts) > 0, "a_bits", a_bits, "need at least one option")
    n_l, n_w, n_a = len(workload), len(w_opts), len(a_opts)
    layer = np.repeat(np.arange(n_l, dtype=np.int64), n_w * n_a)
    wb = np.tile(np.repeat(w_opts, n_a), n_l)
    ab = np.tile(a_opts, n_l * n_w)
    stats: tuple = ()
    if policy is not None:
        policy.check_matches(workload)
        stats = tuple(policy.stats.get(n) for n in workload.layer_names)
    w_enc = _option_encodings("w", w_encodings, w_opts, workload, policy, n_a, "layer-major")
    a_enc = _option_encodings("a", a_encodings, a_opts, workload, policy, n_w, "inner")
    metrics = _evaluate(configs, Points(workload, layer, wb, ab, stats, w_enc, a_enc))
    shape = (len(configs), n_l, n_w, n_a)
    arrays = {k: v.reshape(shape) for k, v in metrics.items()}
    if single:
        arrays = {k: v[0] for k, v in arrays.items()}
    return CostTable(
        workload.layer_names,
        tuple(int(b) for b in w_opts),
        tuple(int(b) for b in a_opts),
        arrays,
        tuple(configs),
    )


def _option_encodings(
    side: str,
    given: Sequence[str | None] | None,
    options: np.ndarray,
    workload: Workload,
    policy: BitPolicy | None,
    other: int,
    order: str,
) -> np.ndarray | None:
    """Per-point encoding indices of one operand of a cost table's points (layer, w, a order),
    or None where every point has the default."""
    field = f"{side}_encodings"
    n_l, n_o = len(workload), len(options)
    if given is not None:
        check(
            not isinstance(given, str) and len(given) == n_o,
            field,
            given,
            f"need one encoding (or None) per {side}_bits option ({n_o})",
        )
    have_policy = policy is not None and bool(policy.encodings)
    if (given is None or all(g is None for g in given)) and not have_policy:
        return None
    default = DEFAULT_W_ENCODING if side == "w" else DEFAULT_A_ENCODING
    table = np.empty((n_l, n_o), dtype=object)
    for i, name in enumerate(workload.layer_names):
        own = policy.encoding(name)[0 if side == "w" else 1] if have_policy else default
        for j, b in enumerate(options.tolist()):
            enc = given[j] if given is not None and given[j] is not None else None
            if enc is None:
                enc = own if (own != "bipolar" or b == 1) else default
            table[i, j] = enc
    bits = np.broadcast_to(options, (n_l, n_o))
    codes = encoding_codes(field, table.ravel().tolist(), bits.ravel().copy()).reshape(n_l, n_o)
    if order == "layer-major":  # w option varies slower than a: repeat each over a options
        return np.ascontiguousarray(np.repeat(codes, other, axis=1).ravel())
    return np.ascontiguousarray(np.tile(codes[:, None, :], (1, other, 1)).ravel())


def _evaluate(configs: list[HardwareConfig], points: Points) -> dict[str, np.ndarray]:
    """Dispatch each family's configs to its cost function; results in the given order."""
    # Families that share one cost function (the spatial-array skeleton) run in one call, as
    # long as they run the points' encodings at the same widths.
    by_function: dict[object, list[int]] = {}
    names: dict[object, str] = {}
    for i, c in enumerate(configs):
        fam = get_family(c.family)
        key = (fam.evaluate, run_key(c, points))
        by_function.setdefault(key, []).append(i)
        names.setdefault(key, fam.name)
    single = len(by_function) == 1
    out: dict[str, np.ndarray] = {}
    if not single:
        out = {k: np.empty((len(configs), len(points)), dtype=np.float64) for k in METRICS}
    for key, idx in by_function.items():
        evaluate, fam_name = key[0], names[key]
        res = evaluate([configs[i] for i in idx], run_points(configs[idx[0]], points))
        for k in METRICS:
            if k not in res:
                raise RuntimeError(f"family {fam_name!r} did not return metric {k!r}")
            arr = np.asarray(res[k], dtype=np.float64)
            if arr.shape != (len(idx), len(points)):
                raise RuntimeError(f"family {fam_name!r} returned {k} of shape {arr.shape}")
            if single:
                out[k] = arr  # one family, configs in order: no copy
            else:
                out[k][idx] = arr
        # Family-specific extra outputs (NaN for configs of families that lack them).
        for k in (key for key in res if key not in METRICS):
            arr = np.asarray(res[k], dtype=np.float64)
            if arr.shape == (len(idx), len(points)):
                out.setdefault(k, np.full((len(configs), len(points)), np.nan))[idx] = arr
    if not np.all(np.isfinite(out["latency_s"])):
        raise HwsimError(
            "hardware", [c.name for c in configs], "cost model produced a non-finite latency"
        )
    return out
