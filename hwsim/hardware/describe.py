"""What a hardware config holds, in words: each field's unit, meaning and source, the preset's
one-line description, and the peak throughput its cost model implies.

``hwsim hardware show`` / ``hwsim hardware list`` and ``hwsim simulate --list`` print these, and
the user guide's table of each family's fields is generated from :func:`family_fields`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hwsim.errors import HwsimError
from hwsim.hardware.base import HardwareConfig
from hwsim.hardware.registry import PRESET_PACKAGE, get_family

# Fields whose unit is not in their name: (unit, meaning).
_NAMED: dict[str, tuple[str, str]] = {
    "name": ("text", "the config's name"),
    "kernel": ("text", "the GEMM kernel: bitserial, int8, fp32, or best (the fastest per layer)"),
    "rows": ("count", "array rows: output channels (filters) computed in parallel"),
    "cols": ("count", "array columns: output pixels (windows) computed in parallel"),
    "lanes": ("count", "terms of the reduction (input channels) each unit adds per step"),
    "sync_lanes": ("count", "lanes that advance together without measured statistics"),
    "cores": ("count", "cores the kernels run on"),
    "booth": ("flag", "Booth-like recoding of the essential bits"),
    "dynamic_precision": ("flag", "each step runs at its group's leading-one precision"),
    "temporal_high_bits": ("flag", "operands above max_bits run as temporal 8-bit passes"),
    "run_ahead": ("steps", "steps a column may run ahead of the slowest one"),
    "fill_cycles": ("cycles", "array fill and drain cycles per layer"),
    "precision": ("bits", "the fixed width every operand runs at"),
    "max_bits": ("bits", "widest operand a fusion unit runs"),
    "min_bits": ("bits", "narrowest operand (a brick)"),
    "psum_bits": ("bits", "partial-sum width written to the output buffer"),
    "out_bits": ("bits", "output width written to DRAM (0: the activation width)"),
    "first_stage_bits": ("bits", "width of the first stage of the two-stage shifter"),
    "a_bits_per_cycle": ("bits/cycle", "activation bits processed per cycle"),
    "power_w": ("W", "package power while busy"),
    "frequency_hz": ("Hz", "clock"),
    "sram_ports": ("text", "ports of each buffer bank (CACTI)"),
    "technology_nm": ("nm", "process node; energies and areas given at 45 nm scale to it"),
    "sram_word_bits": ("bits", "word width of every on-chip buffer (CACTI)"),
    "weight_buffer_banks": ("count", "banks of the weight buffer"),
    "act_buffer_banks": ("count", "banks of the activation buffer"),
    "out_buffer_banks": ("count", "banks of the output buffer"),
    "unit_area_um2": ("um2", "area of one compute unit at 45 nm (none: the family's default)"),
    "e_sram_pj_per_bit": (
        "pJ/bit",
        "one energy per buffer bit for every access (none: each buffer's from the CACTI table)",
    ),
    # CPU: the bit-serial kernel's calibrated terms.
    "binary_words_per_s": ("words/s", "bit-serial kernel: 64-bit AND+POPCNT words per second"),
    "pack_s_per_elem": ("s/elem", "bit-serial kernel: time to read one code to pack"),
    "pack_s_per_elem_bit": ("s/elem-bit", "bit-serial kernel: packing time per element-bit"),
    "writeback_s_per_output_pair": (
        "s/output-pair",
        "bit-serial kernel: register-tile write-back per output and plane pair",
    ),
    "row_tile_s_per_word": ("s/word", "bit-serial kernel: a short row tile's extra per word"),
    "weight_stream_s_per_byte": (
        "s/B",
        "bit-serial kernel: packed weight bytes re-read from beyond L2",
    ),
    "call_overhead_s": ("s", "bit-serial kernel: time per call"),
    "lut_bytes_per_s": ("B/s", "LUT kernel: table-index bytes per second"),
    "lut_s_per_code": ("s/code", "LUT kernel: time to build the tables, per activation code"),
    "lut_stream_s_per_byte": ("s/B", "LUT kernel: index bytes read from beyond L2"),
    "vnni_bytes_per_s": ("B/s", "VNNI kernel: unpacked weight bytes per second (one per MAC)"),
    "vnni_s_per_code": ("s/code", "VNNI kernel: time to prepare the activations, per code"),
    "vnni_stream_s_per_byte": ("s/B", "VNNI kernel: packed weight bytes read from beyond L2"),
    "parallel_call_s": ("s", "extra time of a threaded call"),
}

# The int8 / fp32 kernels' terms, after their prefix: (unit, meaning).
_BASELINE: dict[str, tuple[str, str]] = {
    "macs_per_s": ("MAC/s", "MAC rate with every core busy"),
    "s_per_input": ("s/elem", "time per input element"),
    "s_per_weight": ("s/elem", "time per weight element"),
    "s_per_output": ("s/elem", "time per output element"),
    "s_per_dram_byte": ("s/B", "time per weight byte beyond the cache"),
    "s_per_gemm_weight": ("s/elem", "time per weight element of a GEMM beyond a GEMV's"),
    "call_s": ("s", "time per call"),
    "cache_bytes": ("B", "weight bytes a call keeps in cache"),
    "parallel_macs": ("MACs", "MACs below which a call runs on one thread"),
}

_BUFFER_WORDS = {
    "weight_buffer": "weight buffer",
    "act_buffer": "activation buffer",
    "out_buffer": "output buffer",
    "wbuf": "weight buffer",
    "ibuf": "input (activation) buffer",
    "obuf": "output buffer",
    "l1": "level-1 data cache (per core)",
    "l2": "level-2 cache (per core)",
    "l3": "level-3 cache (shared)",
    "dram": "DRAM",
    "sram": "on-chip buffer",
}


def field_unit(name: str) -> str:
    """The unit of a config field (``B``, ``B/s``, ``Hz``, ``pJ/bit``, ``count``, ...)."""
    return _field_info(name)[0]


def field_meaning(name: str) -> str:
    """What a config field means, in a few words."""
    return _field_info(name)[1]


def _field_info(name: str) -> tuple[str, str]:
    if name in _NAMED:
        return _NAMED[name]
    for prefix in ("int8_", "fp32_"):
        if name.startswith(prefix) and name[len(prefix) :] in _BASELINE:
            unit, meaning = _BASELINE[name[len(prefix) :]]
            return unit, f"{prefix[:-1]} kernel: {meaning}"
    base = name
    if base.endswith("_bytes_per_s"):
        key = base[: -len("_bytes_per_s")]
        return "B/s", f"{_BUFFER_WORDS.get(key, key.replace('_', ' '))} bandwidth"
    if base.endswith("_bytes"):
        key = base[: -len("_bytes")]
        return "B", f"{_BUFFER_WORDS.get(key, key.replace('_', ' '))} size"
    if base.endswith("_pj_per_bit"):
        words = base[: -len("_pj_per_bit")].removeprefix("e_").split("_")
        what = " ".join([_BUFFER_WORDS.get(words[0], words[0].upper()), *words[1:]])
        return "pJ/bit", f"{what} energy per bit"
    if base.endswith("_pj_per_cycle"):
        return "pJ/cycle", "energy of the compute array per cycle"
    if base.endswith("_pj"):
        what = {"e_mul8": "an 8x8-bit multiply", "e_add": "an accumulate (add)"}.get(
            base[:-3], base[:-3]
        )
        return "pJ", f"energy of {what}"
    m = re.fullmatch(r"(.+)_s_per_(.+)", base)
    if m:  # a fitted time per unit of work, e.g. pack_s_per_elem
        per = {"byte": "B", "element": "elem"}.get(m.group(2), m.group(2).replace("_", "-"))
        return f"s/{per}", f"{m.group(1).replace('_', ' ')}: time per {per}"
    for suffix, unit, what in (
        ("_mm2", "mm2", "area"),
        ("_um2", "um2", "area"),
        ("_nm", "nm", "size"),
        ("_w", "W", "power"),
        ("_hz", "Hz", "frequency"),
        ("_bits", "bits", "width"),
        ("_cycles", "cycles", "cycles"),
        ("_banks", "count", "banks"),
    ):
        if base.endswith(suffix):
            return unit, f"{base[: -len(suffix)].replace('_', ' ')} {what}"
    return UNKNOWN_UNIT, ""


UNKNOWN_UNIT = "?"
"""What :func:`field_unit` says of a field it has no rule for (a test keeps this from shipping)."""


@dataclass(frozen=True)
class FieldRow:
    """One field of a config as ``hwsim hardware show`` prints it."""

    name: str
    value: Any
    unit: str
    source: str


def config_fields(hw: HardwareConfig) -> list[FieldRow]:
    """Every field of ``hw`` with its value, unit and source (the preset's ``[sources]``, else
    the family default it was left at)."""
    rows = []
    for f in dataclasses.fields(hw):
        if f.name == "sources":
            continue
        value = getattr(hw, f.name)
        source = hw.sources.get(f.name, "")
        if not source:
            default = f.default if f.default is not dataclasses.MISSING else None
            source = (
                "the config's name"
                if f.name == "name"
                else f"{hw.family} family default (not set in this config)"
                if value == default
                else "set in this config, no source given"
            )
        rows.append(FieldRow(f.name, value, field_unit(f.name), source))
    return rows


def family_fields(family: str) -> list[tuple[str, str, str, Any]]:
    """``(field, unit, meaning, default)`` of every field of a family's config."""
    cls = get_family(family).config_type
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "sources":
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append((f.name, field_unit(f.name), field_meaning(f.name), default))
    return out


def preset_description(name: str, max_chars: int | None = 110) -> str:
    """One line on a preset: the first sentence of its file's leading comment (the CPU presets
    also name their kernel), else its family's description."""
    from hwsim.hardware.registry import load_hardware

    hw = load_hardware(name)
    res = resources.files(PRESET_PACKAGE).joinpath(f"{name}.toml")
    lines: list[str] = []
    if res.is_file():
        for line in res.read_text().splitlines():
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("#").strip())
    text = " ".join(x for x in lines if x)
    if not text:
        return get_family(hw.family).description
    m = re.match(r"(.+?(?<!\bal)\.)(\s|$)", text)  # the first sentence ("et al." is not one)
    first = m.group(1).rstrip(".") if m else text
    if text.startswith(f"{name}:"):  # "cpu-best: calibrated with ..." (the CPU presets)
        first = f"CPU, {getattr(hw, 'kernel', '')} kernel; {text[len(name) + 1 :].strip()}"
        first = first.rstrip(".")
    if max_chars is None or len(first) <= max_chars:
        return first
    return first[: max_chars - 3] + "..."


def array_summary(hw: HardwareConfig) -> str:
    """The compute array in a few characters: ``256x16x16`` (rows x cols x lanes), ``2 cores``."""
    names = [f.name for f in dataclasses.fields(hw)]
    if "cores" in names:
        return f"{hw.cores} cores"
    dims = [str(getattr(hw, n)) for n in ("rows", "cols", "lanes") if n in names]
    label = " x ".join(("rows", "cols", "lanes")[: len(dims)])
    return f"{'x'.join(dims)} ({label})"


def buffer_summary(hw: HardwareConfig) -> str:
    """Each on-chip buffer (or cache) size, ``W 32 MiB / A 2 MiB / O 2 MiB``."""
    from hwsim.units import format_quantity

    short = {
        "weight_buffer_bytes": "W",
        "wbuf_bytes": "W",
        "act_buffer_bytes": "A",
        "ibuf_bytes": "A",
        "out_buffer_bytes": "O",
        "obuf_bytes": "O",
        "l1_bytes": "L1",
        "l2_bytes": "L2",
        "l3_bytes": "L3",
    }
    parts = [
        f"{label} {format_quantity(getattr(hw, key), 'B', 3)}"
        for key, label in short.items()
        if hasattr(hw, key)
    ]
    return " / ".join(parts)


PEAK_SHAPE = (256, 4096, 4096)
"""``(M, K, N)`` of the GEMM the peak throughput is read from (large enough to fill any array)."""


def peak_macs_per_s(hw: HardwareConfig, w_bits: int, a_bits: int) -> float | None:
    """MACs per second at utilization 1, at ``w_bits``/``a_bits``: read from the cost model on
    one large GEMM as ``MACs / (latency x utilization)`` (None: the config cannot run it).

    This is the rate the model's own utilization is measured against, at the bits the
    hardware runs the request at; data-dependent families without measured statistics use
    their stated default (see the report's notes)."""
    from hwsim.hardware.api import simulate
    from hwsim.policy import BitPolicy
    from hwsim.workload import Workload

    m, k, n = PEAK_SHAPE
    wl = Workload.from_layers(
        "peak",
        [{"name": "gemm", "kind": "linear", "batch": m, "in_channels": k, "out_channels": n}],
    )
    try:
        rep = simulate(wl, BitPolicy.uniform(wl, w_bits, a_bits), hw)
    except HwsimError as exc:
        if str(exc.field).startswith(("w_bits", "a_bits")):
            return None  # a precision the config refuses
        raise
    t = rep.totals
    if not t["latency_s"] > 0 or not t["utilization"] > 0:
        return None
    return t["total_macs"] / (t["latency_s"] * t["utilization"])
