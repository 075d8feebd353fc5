"""How each hardware family runs each operand encoding, and the widths the cost models price.

Every family states, for its weights and its activations, how it runs ``unsigned``, ``signed``
(two's complement) and ``bipolar`` (+-1 in one bit, :mod:`hwsim.encoding`) codes, with the
source of the statement. What the cost models need of it is one number per case: the bits
the family's datapath actually runs for a ``b``-bit code in that encoding, as ``b`` plus
``extra_bits``. Sign handling costs nothing in every family here (a negated MSB plane, a
signed multiplier, Booth terms); the case that differs is a +-1 operand:

- *In one bit*: a +-1 value ``v`` is held as its bit ``n`` (``v = 2n - 1``), so
  ``sum v w = 2 sum n w - sum w``. Where the other operand is the weights, ``sum w`` over a
  filter is a constant, folded into the bias: one bit-serial pass on ``n``. On an XNOR /
  popcount datapath (the CPU kernels) a +-1 x +-1 product is one XNOR and one popcount per
  64 lanes.
- *As 2-bit two's complement* (-1 = ``11``, +1 = ``01``): where the correction would be the
  *activations'* sum over each window (data, formed per window), which the datapath does not
  compute, a +-1 weight is run as the 2-bit signed code it also is (``extra_bits = 1``): exact,
  at the cost of one more serial weight bit.

Cost models take the encodings through :class:`hwsim.hardware.registry.Points`
(``w_encoding`` / ``a_encoding``, indices into :data:`hwsim.encoding.ENCODINGS`), and
:func:`run_points` rewrites the widths before a family prices them, so one Numba call prices
every encoding. A family registered without a statement here (a plug-in) runs every code at
its width, and :func:`encoding_support` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hwsim.encoding import ENCODINGS, check_encoding
from hwsim.errors import check

OPERANDS: tuple[str, ...] = ("w", "a")
"""The two operands of a layer: weights (or an act x act row's second operand), activations."""

ENCODING_INDEX: dict[str, int] = {name: i for i, name in enumerate(ENCODINGS)}
BIPOLAR = ENCODING_INDEX["bipolar"]


@dataclass(frozen=True)
class EncodingRun:
    """How one family runs one operand in one encoding: ``how`` in words, its ``source``, and
    ``extra_bits`` the datapath adds to the code's width (0: the code's own width)."""

    how: str
    source: str
    extra_bits: int = 0


_BIAS_FOLD = (
    "one bit-serial pass on its bit n (v = 2n - 1: sum v w = 2 sum n w - sum w, the filter's "
    "sum w a constant folded into the bias)"
)
_TWO_BIT = (
    "as the 2-bit two's complement code it also is (-1 = 11, +1 = 01): the one-bit form would "
    "need each window's activation sum, which the datapath does not form"
)
_MSB = "two's complement: the MSB plane's partial product is subtracted, no extra cycle"


def _table(**rows: tuple[str, str, int] | tuple[str, str]) -> dict[tuple[str, str], EncodingRun]:
    """``w_unsigned=(how, source[, extra])`` ... as ``{("w", "unsigned"): EncodingRun}``."""
    out = {}
    for key, row in rows.items():
        operand, encoding = key.split("_", 1)
        out[(operand, encoding)] = EncodingRun(*row)
    return out


_DADN = "Chen et al., DaDianNao, MICRO 2014: 16-bit fixed-point multipliers"
_STRIPES = "Judd et al., Stripes, MICRO 2016"
_LOOM = "Sharify et al., Loom, DAC 2018"
_BISMO = (
    "Umuroglu et al., BISMO, FPL 2018; BISMO's code: each binary product's negate flag is "
    "neg_l xor neg_r"
)
_BITFUSION = (
    "Sharma et al., Bit Fusion, ISCA 2018: BitBricks multiply 2-bit operands, signed or "
    "unsigned; its simulator runs a 1-bit operand as 2-bit"
)
_PRAGMATIC = "Albericio et al., Bit-Pragmatic, MICRO 2017"
_LACONIC = "Sharify et al., Laconic, ISCA 2019: Booth-encoded terms of both operands"
_CPU = (
    "hwsim.kernels (EBS's binary decomposition, Li et al. 2020; maltanar/gemmbitserial: "
    "plane pairs weighted +-2^(i+j); the weight-stream kernels: T-MAC's tables, Wei et al. "
    "EuroSys 2025, and vpdpbusd on unpacked slot codes); torch int8 / fp32 for the other "
    "kernels"
)
_INFER = " [derived: a bipolar v is 2n - 1, hwsim.hardware.encodings]"

FAMILY_ENCODINGS: dict[str, dict[tuple[str, str], EncodingRun]] = {
    "bitparallel": _table(
        w_unsigned=("in the fixed-width multiplier (every request runs at its precision)", _DADN),
        w_signed=("in the fixed-width two's complement multiplier", _DADN),
        w_bipolar=("as a fixed-width value +-1: no saving on a bit-parallel array", _DADN),
        a_unsigned=("in the fixed-width multiplier", _DADN),
        a_signed=("in the fixed-width two's complement multiplier", _DADN),
        a_bipolar=("as a fixed-width value +-1: no saving on a bit-parallel array", _DADN),
    ),
    "stripes": _table(
        w_unsigned=("bit-parallel at 16 bits", _STRIPES),
        w_signed=("bit-parallel at 16 bits, two's complement", _STRIPES),
        w_bipolar=("bit-parallel at 16 bits: +-1 saves nothing on parallel weights", _STRIPES),
        a_unsigned=("one serial bit per cycle (ReLU outputs, the paper's case)", _STRIPES),
        a_signed=(f"serial, {_MSB}", _STRIPES + _INFER),
        a_bipolar=(_BIAS_FOLD, _STRIPES + _INFER),
    ),
    "loom": _table(
        w_unsigned=("one serial weight bit per cycle", _LOOM),
        w_signed=(f"serial, {_MSB}", _LOOM + _INFER),
        w_bipolar=(_TWO_BIT, _LOOM + _INFER, 1),
        a_unsigned=("serial activation bits, a_bits_per_cycle at a time", _LOOM),
        a_signed=(f"serial, {_MSB}", _LOOM + _INFER),
        a_bipolar=(_BIAS_FOLD, _LOOM + _INFER),
    ),
    "bismo": _table(
        w_unsigned=("one binary matrix product per weight plane", _BISMO),
        w_signed=(_MSB + " (the negate flag)", _BISMO),
        w_bipolar=(_TWO_BIT + " (no XNOR mode in BISMO's dot-product units)", _BISMO, 1),
        a_unsigned=("one binary matrix product per activation plane", _BISMO),
        a_signed=(_MSB + " (the negate flag)", _BISMO),
        a_bipolar=(_BIAS_FOLD + "; the host adds the constant with the bias", _BISMO + _INFER),
    ),
    "bitfusion": _table(
        w_unsigned=("2-bit bricks, unsigned mode", _BITFUSION),
        w_signed=("2-bit bricks, signed mode: same bricks, same cycles", _BITFUSION),
        w_bipolar=("+-1 in one signed 2-bit brick, as a 1-bit operand runs anyway", _BITFUSION),
        a_unsigned=("2-bit bricks, unsigned mode", _BITFUSION),
        a_signed=("2-bit bricks, signed mode: same bricks, same cycles", _BITFUSION),
        a_bipolar=("+-1 in one signed 2-bit brick, as a 1-bit operand runs anyway", _BITFUSION),
    ),
    "pragmatic": _table(
        w_unsigned=("bit-parallel at 16 bits", _PRAGMATIC),
        w_signed=("bit-parallel at 16 bits, two's complement", _PRAGMATIC),
        w_bipolar=("bit-parallel at 16 bits: +-1 saves nothing on parallel weights", _PRAGMATIC),
        a_unsigned=("the essential (set) bits of each code, measured", _PRAGMATIC),
        a_signed=(
            "the essential bits of the two's complement codes as measured (a negative code's "
            "leading ones count)",
            _PRAGMATIC + _INFER,
        ),
        a_bipolar=(
            "its one bit as one essential term (" + _BIAS_FOLD + ")",
            _PRAGMATIC + _INFER,
        ),
    ),
    "laconic": _table(
        w_unsigned=("Booth terms of the code", _LACONIC),
        w_signed=("Booth terms carry their sign: no extra term", _LACONIC),
        w_bipolar=("+-1 is one signed Booth term: one term per weight", _LACONIC + _INFER),
        a_unsigned=("Booth terms of the code", _LACONIC),
        a_signed=("Booth terms carry their sign: no extra term", _LACONIC),
        a_bipolar=(
            "its one bit as one term (" + _BIAS_FOLD + "), measured on the stored bits",
            _LACONIC + _INFER,
        ),
    ),
    "cpu": _table(
        w_unsigned=(
            "bit-serial: one plane per bit; weight-stream kernels: a plane per table lookup "
            "(lut), the code as a VNNI byte (vnni); int8 / fp32: as integers",
            _CPU,
        ),
        w_signed=(
            "bit-serial: the sign plane's pairs weighted -2^(i+j), as many plane pairs; lut: "
            "the sign plane's lookups weighted negatively; vnni: the code offset by 2^(b-1), "
            "corrected by the activations' sum; int8 / fp32: as integers",
            _CPU,
        ),
        w_bipolar=(
            "bit-serial: one plane; +-1 x +-1 is one XNOR and one popcount per 64 lanes, +-1 "
            "x k bits k passes plus the other operand's row sum; lut / vnni: one stored bit, "
            "2 x its sum minus the activations' sum; int8: +-1 fits",
            _CPU,
        ),
        a_unsigned=("bit-serial: one plane per bit; int8 / fp32: as integers", _CPU),
        a_signed=("bit-serial: the sign plane's pairs weighted negatively", _CPU),
        a_bipolar=("bit-serial: one plane (XNOR / popcount against +-1 weights)", _CPU),
    ),
}
"""Each shipped family's statement for every (operand, encoding)."""


def _unstated(family: str) -> dict[tuple[str, str], EncodingRun]:
    run = EncodingRun(
        "not stated by the family: priced as a code of its width", f"family {family!r}"
    )
    return {(o, e): run for o in OPERANDS for e in ENCODINGS}


def encoding_support(family: Any) -> dict[tuple[str, str], EncodingRun]:
    """``{(operand, encoding): EncodingRun}`` of a family (its name, config class or a config),
    complete over both operands and the three encodings. A family may state its own with a
    class attribute ``ENCODING_SUPPORT`` of the same form; a family with neither is priced at
    the code's width, and the entries say that nothing was stated."""
    if isinstance(family, str):
        from hwsim.hardware.registry import families

        name = family
        fam = families().get(name)
        cls = fam.config_type if fam is not None else None
    else:
        cls = family if isinstance(family, type) else type(family)
        name = getattr(cls, "family", "")
    own = getattr(cls, "ENCODING_SUPPORT", None)
    table = own if own is not None else FAMILY_ENCODINGS.get(name)
    if table is None:
        return _unstated(name)
    missing = [(o, e) for o in OPERANDS for e in ENCODINGS if (o, e) not in table]
    check(not missing, f"{name}.ENCODING_SUPPORT", missing, "must state every operand x encoding")
    return dict(table)


def extra_bits(family: Any) -> np.ndarray:
    """``[operand, encoding]`` int64 bits added to a code's width (operands w, a)."""
    support = encoding_support(family)
    out = np.zeros((len(OPERANDS), len(ENCODINGS)), dtype=np.int64)
    for i, operand in enumerate(OPERANDS):
        for j, enc in enumerate(ENCODINGS):
            out[i, j] = support[(operand, enc)].extra_bits
    return out


def encoding_codes(field: str, names: Any, bits: np.ndarray) -> np.ndarray:
    """Encoding names (one per point, or one for all; None: the operand's default) as int8
    indices into ``ENCODINGS``, checked against the bits (bipolar is 1 bit; a float width
    keeps the default)."""
    from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING

    default = DEFAULT_W_ENCODING if field.startswith("w") else DEFAULT_A_ENCODING
    n = len(bits)
    if names is None or isinstance(names, str):
        names = [names] * n
    check(len(names) == n, field, len(names), f"need one encoding per point ({n})")
    out = np.empty(n, dtype=np.int8)
    cache: dict[tuple[Any, int], int] = {}
    for i, (name, b) in enumerate(zip(names, bits.tolist(), strict=True)):
        key = (name, b)
        if key not in cache:
            enc = default if name is None or b == 32 else check_encoding(field, name, b)
            cache[key] = ENCODING_INDEX[enc]
        out[i] = cache[key]
    return out


def policy_points(workload: Any, policy: Any) -> Any:
    """One :class:`~hwsim.hardware.registry.Points` per layer of ``workload`` at ``policy``'s
    bits, statistics and encodings (what ``simulate`` and the event model price)."""
    from hwsim.hardware.registry import Points

    w_bits, a_bits = policy.arrays(workload)
    stats = tuple(policy.stats.get(n) for n in workload.layer_names)
    w_names, a_names = policy.encoding_arrays(workload)
    return Points(
        workload,
        np.arange(len(workload), dtype=np.int64),
        w_bits,
        a_bits,
        stats,
        encoding_codes("w_encoding", w_names, w_bits),
        encoding_codes("a_encoding", a_names, a_bits),
    )


def run_points(family: Any, points: Any) -> Any:
    """``points`` with each width rewritten to what ``family`` runs for its encoding (the
    points themselves where nothing changes)."""
    w_enc, a_enc = points.w_encoding, points.a_encoding
    if w_enc is None and a_enc is None:
        return points
    extra = extra_bits(family)
    changes = {}
    for i, (name, enc) in enumerate((("w_bits", w_enc), ("a_bits", a_enc))):
        if enc is None or not extra[i].any():
            continue
        bits = getattr(points, name)
        add = extra[i][enc.astype(np.int64)]
        add[bits == 32] = 0
        if add.any():
            changes[name] = np.ascontiguousarray(np.minimum(bits + add, 16), dtype=np.int64)
            changes[name][bits == 32] = 32
    return replace(points, **changes) if changes else points


def run_key(family: Any, points: Any) -> tuple:
    """What decides a family's rewritten widths: configs with the same key share one call."""
    if points.w_encoding is None and points.a_encoding is None:
        return ()
    return tuple(extra_bits(family).ravel().tolist())


def encoding_notes(
    family: Any, name: str, layer_names: Any, w_enc: np.ndarray, a_enc: np.ndarray
) -> list[str]:
    """Report notes for layers whose encoding the family runs wider than the code."""
    extra = extra_bits(family)
    support = encoding_support(family)
    notes = []
    for i, (operand, enc) in enumerate((("w", w_enc), ("a", a_enc))):
        for j, encoding in enumerate(ENCODINGS):
            if extra[i, j] == 0:
                continue
            hit = [n for n, e in zip(layer_names, enc.tolist(), strict=True) if e == j]
            if hit:
                shown = ", ".join(hit[:5]) + (", ..." if len(hit) > 5 else "")
                what = "weights" if operand == "w" else "activations"
                run = support[(operand, encoding)]
                notes.append(
                    f"{family_name(family)} ({name}): {encoding} {what} of {len(hit)} layer(s) "
                    f"({shown}) run {run.how} (+{run.extra_bits} bit; {run.source})"
                )
    return notes


def family_name(family: Any) -> str:
    return family if isinstance(family, str) else str(getattr(family, "family", ""))


def support_rows(families: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per (family, operand, encoding): the table the docs print."""
    if families is None:
        from hwsim.hardware.registry import families as registered

        families = registered()
    rows = []
    for fam_name, fam in families.items():
        support = encoding_support(getattr(fam, "config_type", fam_name))
        for (operand, enc), run in support.items():
            rows.append(
                {
                    "family": fam_name,
                    "operand": operand,
                    "encoding": enc,
                    "extra_bits": run.extra_bits,
                    "how": run.how,
                    "source": run.source,
                }
            )
    return rows
