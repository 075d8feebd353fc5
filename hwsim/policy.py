"""Bit policies: per-layer (weight bits, activation bits) and the encoding of each operand, plus
measured bitplane statistics.

Each operand of a layer is ``unsigned``, ``signed`` (two's complement) or ``bipolar`` (+-1 in
one bit; :mod:`hwsim.encoding`). A layer without one has the convention every policy had
before encodings existed: signed weights and unsigned activations (the kernels' and the
quantizers' defaults); a policy file without encodings reads that way.

Statistics are what data-dependent hardware (Bit-Pragmatic, dynamic Stripes) needs to know of
the real tensors: the density of each bitplane and, per group of ``group_size`` activation lanes,
the distribution of the largest number of essential (non-zero) bits and of the dynamic
precision (position of the leading one plus one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.encoding import DEFAULT_A_ENCODING, DEFAULT_W_ENCODING, check_encoding
from hwsim.errors import HwsimError, check, check_bits
from hwsim.io import atomic_write_text
from hwsim.workload import Workload

FLOAT_BITS = 32
"""A bit width of 32 marks an unquantized (float) tensor where a model supports it."""


def bits_label(w_bits: int, a_bits: int) -> str:
    """The one way bits are written for users: ``w4a8`` (weights, then activations)."""
    return f"w{w_bits}a{a_bits}"


@dataclass(frozen=True)
class LayerStats:
    """Bitplane statistics of one layer measured on real data.

    - ``w_plane_density[i]``: fraction of weight codes whose bit ``i`` is set (LSB first).
    - ``a_plane_density[i]``: the same for activation codes.
    - ``a_group_max_essential[k]``: probability that the most essential bits in a group of
      ``group_size`` activations is ``k`` (length ``a_bits + 1``).
    - ``a_group_max_precision[k]``: probability that the group's dynamic precision is ``k``.
    - ``a_mean_essential``: mean number of set bits per activation.
    - ``step_cycles``: mean cycles per step of named step rules (``hwsim.stepstats.rule_key``),
      replayed on the codes in the hardware's own order (conv and FC layers measured with
      ``layer_stats(..., conv=...)``); families whose rule is here use it, exactly.
    """

    group_size: int
    w_plane_density: tuple[float, ...]
    a_plane_density: tuple[float, ...]
    a_group_max_essential: tuple[float, ...]
    a_group_max_precision: tuple[float, ...]
    a_mean_essential: float
    step_cycles: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        from hwsim.stepstats import parse_rule

        check(self.group_size >= 1, "stats.group_size", self.group_size, "must be >= 1")
        check(
            isinstance(self.step_cycles, Mapping),
            "stats.step_cycles",
            type(self.step_cycles).__name__,
            "must map step rule names to mean cycles per step",
        )
        steps = {}
        for key, value in self.step_cycles.items():
            parse_rule(key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            check(ok and value >= 1.0, f"stats.step_cycles[{key}]", value, "must be a number >= 1")
            steps[str(key)] = float(value)
        object.__setattr__(self, "step_cycles", steps)
        for name in ("w_plane_density", "a_plane_density"):
            v = tuple(float(x) for x in getattr(self, name))
            object.__setattr__(self, name, v)
            check(all(0.0 <= x <= 1.0 for x in v), f"stats.{name}", v, "densities in [0, 1]")
        for name in ("a_group_max_essential", "a_group_max_precision"):
            v = tuple(float(x) for x in getattr(self, name))
            object.__setattr__(self, name, v)
            check(
                len(v) >= 1 and all(x >= 0.0 for x in v),
                f"stats.{name}",
                v,
                "must be a non-empty non-negative distribution",
            )
            check(abs(sum(v) - 1.0) < 1e-6, f"stats.{name}", v, "must sum to 1")
        check(
            self.a_mean_essential >= 0.0,
            "stats.a_mean_essential",
            self.a_mean_essential,
            "must be >= 0",
        )

    def expected_group_max_essential(self) -> float:
        p = np.asarray(self.a_group_max_essential)
        return float((np.arange(len(p)) * p).sum())

    @property
    def w_bits(self) -> int:
        """The weight width the statistics were measured at."""
        return len(self.w_plane_density)

    @property
    def a_bits(self) -> int:
        """The activation width the statistics were measured at."""
        return len(self.a_plane_density)

    def expected_group_max_precision(self) -> float:
        p = np.asarray(self.a_group_max_precision)
        return float((np.arange(len(p)) * p).sum())


@dataclass
class BitPolicy:
    """``{layer name: (w_bits, a_bits)}`` plus optional per-layer :class:`LayerStats`.

    Bits are integers in 1..16, or 32 for an unquantized float tensor. For an ``act_matmul``
    row (two activations, e.g. attention ``Q K^T``) the pair is the bits of both operands:
    ``w_bits`` those of the second (``K^T``, ``V``: it takes the weight's place in the
    hardware), ``a_bits`` those of the first.

    ``encodings`` maps a layer to ``(w_encoding, a_encoding)``; a layer not in it (or an
    operand given as None) has the default: ``signed`` weights, ``unsigned`` activations. Only
    non-default entries are kept. A float (32-bit) operand has no encoding; ``bipolar`` needs
    1 bit.
    """

    bits: dict[str, tuple[int, int]]
    stats: dict[str, LayerStats] = field(default_factory=dict)
    encodings: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(
            isinstance(self.bits, Mapping),
            "policy.bits",
            type(self.bits).__name__,
            "must be a mapping of layer name to (w_bits, a_bits)",
        )
        clean: dict[str, tuple[int, int]] = {}
        for name, pair in self.bits.items():
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise HwsimError(f"policy[{name}]", pair, "must be a pair (w_bits, a_bits)")
            clean[str(name)] = (
                check_bits(f"policy[{name}].w_bits", pair[0], allow_float=True),
                check_bits(f"policy[{name}].a_bits", pair[1], allow_float=True),
            )
        self.bits = clean
        for name in self.stats:
            check(name in clean, "policy.stats", name, "statistics for a layer with no bits")
        check(
            isinstance(self.encodings, Mapping),
            "policy.encodings",
            type(self.encodings).__name__,
            "must be a mapping of layer name to (w_encoding, a_encoding)",
        )
        encs: dict[str, tuple[str, str]] = {}
        for name, pair in self.encodings.items():
            name = str(name)
            check(name in clean, "policy.encodings", name, "an encoding for a layer with no bits")
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise HwsimError(
                    f"policy[{name}].encoding", pair, "must be a pair (w_encoding, a_encoding)"
                )
            w_b, a_b = clean[name]
            w_e = _layer_encoding(f"policy[{name}].w_encoding", pair[0], w_b, DEFAULT_W_ENCODING)
            a_e = _layer_encoding(f"policy[{name}].a_encoding", pair[1], a_b, DEFAULT_A_ENCODING)
            if (w_e, a_e) != (DEFAULT_W_ENCODING, DEFAULT_A_ENCODING):
                encs[name] = (w_e, a_e)
        self.encodings = encs

    # ---------------------------------------------------------------- construction
    @classmethod
    def uniform(
        cls,
        workload: Workload,
        w_bits: int,
        a_bits: int,
        w_encoding: str | None = None,
        a_encoding: str | None = None,
    ) -> BitPolicy:
        names = workload.layer_names
        encs = {n: (w_encoding, a_encoding) for n in names} if w_encoding or a_encoding else {}
        return cls({n: (w_bits, a_bits) for n in names}, encodings=encs)

    @classmethod
    def from_arrays(
        cls, workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int]
    ) -> BitPolicy:
        check(
            len(w_bits) == len(workload),
            "w_bits",
            len(w_bits),
            f"need one per layer ({len(workload)})",
        )
        check(
            len(a_bits) == len(workload),
            "a_bits",
            len(a_bits),
            f"need one per layer ({len(workload)})",
        )
        return cls(
            {
                n: (int(w), int(a))
                for n, w, a in zip(workload.layer_names, w_bits, a_bits, strict=True)
            }
        )

    # ---------------------------------------------------------------- use
    def __len__(self) -> int:
        return len(self.bits)

    def __iter__(self) -> Iterator[str]:
        return iter(self.bits)

    def __getitem__(self, name: str) -> tuple[int, int]:
        return self.bits[name]

    def encoding(self, name: str) -> tuple[str, str]:
        """``(w_encoding, a_encoding)`` of layer ``name`` (the defaults where none was set)."""
        if name not in self.bits:
            raise HwsimError("policy.layer", name, "no such layer in the policy")
        return self.encodings.get(name, (DEFAULT_W_ENCODING, DEFAULT_A_ENCODING))

    def encoding_arrays(self, workload: Workload) -> tuple[list[str], list[str]]:
        """``(w_encodings, a_encodings)`` in the workload's layer order."""
        self.check_matches(workload)
        pairs = [self.encoding(n) for n in workload.layer_names]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def with_encodings(self, encodings: Mapping[str, tuple[str | None, str | None]]) -> BitPolicy:
        """A copy with the given layers' encodings replaced (None: that operand's default)."""
        return BitPolicy(dict(self.bits), dict(self.stats), {**self.encodings, **encodings})

    def check_matches(self, workload: Workload) -> None:
        """Raise unless the policy names exactly the workload's layers, saying what differs."""
        have, want = set(self.bits), set(workload.layer_names)
        if have != want:
            missing = sorted(want - have)
            extra = sorted(have - want)
            raise HwsimError(
                "policy.layers",
                {"missing from policy": missing[:10], "not in workload": extra[:10]},
                f"policy layers do not match workload {workload.name!r} "
                f"({len(missing)} missing, {len(extra)} unknown)",
            )

    def arrays(self, workload: Workload) -> tuple[np.ndarray, np.ndarray]:
        """``(w_bits, a_bits)`` as int64 arrays in the workload's layer order."""
        self.check_matches(workload)
        w = np.array([self.bits[n][0] for n in workload.layer_names], dtype=np.int64)
        a = np.array([self.bits[n][1] for n in workload.layer_names], dtype=np.int64)
        return w, a

    def with_stats(self, stats: Mapping[str, LayerStats]) -> BitPolicy:
        return BitPolicy(dict(self.bits), {**self.stats, **stats}, dict(self.encodings))

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "hwsim.BitPolicy/1",
            "layers": {
                n: {
                    "w_bits": w,
                    "a_bits": a,
                    **_encoding_dict(self.encodings.get(n)),
                    **({"stats": _stats_dict(self.stats[n])} if n in self.stats else {}),
                }
                for n, (w, a) in self.bits.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BitPolicy:
        layers = data.get("layers") if isinstance(data, Mapping) else None
        check(isinstance(layers, Mapping), "policy.layers", layers, "missing 'layers' mapping")
        bits: dict[str, tuple[int, int]] = {}
        stats: dict[str, LayerStats] = {}
        encodings: dict[str, tuple[str | None, str | None]] = {}
        for name, entry in layers.items():
            if not isinstance(entry, Mapping) or "w_bits" not in entry or "a_bits" not in entry:
                raise HwsimError(f"policy.layers[{name}]", entry, "needs w_bits and a_bits")
            bits[name] = (entry["w_bits"], entry["a_bits"])
            if "w_encoding" in entry or "a_encoding" in entry:
                encodings[name] = (entry.get("w_encoding"), entry.get("a_encoding"))
            if "stats" in entry:
                try:
                    stats[name] = LayerStats(**entry["stats"])
                except TypeError as exc:
                    raise HwsimError(
                        f"policy.layers[{name}].stats", entry["stats"], str(exc)
                    ) from exc
        return cls(bits, stats, encodings)

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> BitPolicy:
        path = Path(path)
        if not path.is_file():
            raise HwsimError("policy path", str(path), "no such file")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise HwsimError("policy path", str(path), f"not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _layer_encoding(field_name: str, value: Any, bits: int, default: str) -> str:
    """One operand's encoding: None is the default; a float operand keeps the default."""
    if value is None:
        return default
    enc = check_encoding(field_name, value)
    if bits == FLOAT_BITS:
        check(enc == default, field_name, value, "a float (32-bit) operand has no encoding")
        return enc
    return check_encoding(field_name, enc, bits)


def _encoding_dict(pair: tuple[str, str] | None) -> dict[str, str]:
    """JSON keys of a layer's non-default encodings (none for the defaults: older files)."""
    if pair is None:
        return {}
    out = {}
    if pair[0] != DEFAULT_W_ENCODING:
        out["w_encoding"] = pair[0]
    if pair[1] != DEFAULT_A_ENCODING:
        out["a_encoding"] = pair[1]
    return out


def _stats_dict(stats: LayerStats) -> dict[str, Any]:
    """JSON form of statistics; ``step_cycles`` only when measured (older files lack it)."""
    out = asdict(stats)
    if not out["step_cycles"]:
        del out["step_cycles"]
    return out
