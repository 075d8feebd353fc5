"""``hwsim hardware``: look at the hardware presets: ``list`` them, or ``show`` one's every
field with its value, unit and source, and the peak throughput its cost model implies."""

from __future__ import annotations

import argparse

PEAK_BITS: tuple[tuple[int, int], ...] = ((16, 16), (8, 8), (4, 4), (2, 2), (1, 1))
"""The precisions ``show`` reads the peak throughput at; ``list`` shows the 8/8 one."""

CALIBRATION_NOTE = (
    "[MEASURED] ... 'on this machine' means the machine that ran `hwsim calibrate` for this "
    "preset (see the date), not necessarily yours: `hwsim calibrate --baselines --out "
    "my-cpu/cpu-bitserial.toml` measures your own and writes cpu-bitserial, cpu-int8, "
    "cpu-fp32 and cpu-best presets you pass by path (--hardware my-cpu/cpu-best.toml)."
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "hardware",
        help="list the hardware presets, or show one's fields, units and sources",
        description="Look at the hardware presets: `hwsim hardware list` gives each preset's "
        "family, clock, array, buffers, peak throughput and a one-line description; "
        "`hwsim hardware show PRESET` every field of one (a preset name or a TOML path) with "
        "its value, unit and source, and the peak throughput at several precisions.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser(
        "show",
        help="every field of one preset with its value, unit and source",
        description="Every field of a hardware preset (or TOML file) with its value, unit and "
        "source, the peak throughput its cost model implies at 16/16 down to 1/1 bits, and its "
        "area where an area model exists for its family.",
    )
    show.add_argument("preset", help="preset name (see `hwsim hardware list`) or TOML path")
    show.set_defaults(func=run_show)
    lst = sub.add_parser(
        "list",
        help="the presets with clock, array, buffers, peak throughput and a description",
        description="Every hardware preset with its family, clock, array, on-chip buffers "
        "(caches for the CPU presets), peak throughput at 8/8 bits and a one-line description.",
    )
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _value_text(value: object, unit: str) -> str:
    from hwsim.units import format_quantity

    if isinstance(value, bool) or isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else value
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    if unit in ("B", "B/s", "Hz", "W", "s") and value not in (0, 1):
        per_s = unit == "B/s"  # bytes with binary prefixes, per second
        human = format_quantity(float(value), "B" if per_s else unit) + ("/s" if per_s else "")
        if human.replace(" ", "") != f"{text}{unit}":
            text = f"{text} ({human})"
    elif unit == "MAC/s" and value:
        text = f"{text} ({format_quantity(float(value), 'MACs')}/s)"
    return text


def peak_text(hw, w_bits: int, a_bits: int) -> str:
    """The peak throughput at ``w_bits``/``a_bits`` as printed, or why there is none."""
    from hwsim.hardware.describe import peak_macs_per_s
    from hwsim.units import format_quantity

    peak = peak_macs_per_s(hw, w_bits, a_bits)
    return "cannot run" if peak is None else format_quantity(peak, "MACs", 3) + "/s"


def area_text(hw) -> str | None:
    """The config's area where ``hwsim.area`` exists (None: no area model in this release)."""
    import hwsim
    from hwsim.errors import HwsimError

    area = getattr(hwsim, "area", None)
    if area is None:
        return None
    try:
        value = area(hw)
    except HwsimError as exc:
        return f"no area model ({exc.reason if hasattr(exc, 'reason') else exc})"
    if isinstance(value, int | float):
        return f"{float(value):.4g} mm2"
    total = getattr(value, "total_mm2", None)
    if not isinstance(total, int | float):
        return str(value)
    parts = getattr(value, "components", None) or {}
    split = ", ".join(f"{k.replace('_', ' ')} {float(v):.4g}" for k, v in parts.items())
    node = getattr(value, "technology_nm", None)
    return (
        f"{float(total):.4g} mm2"
        + (f" at {node} nm" if node else "")
        + (f" ({split})" if split else "")
    )


def run_show(args: argparse.Namespace) -> int:
    from hwsim.hardware import get_family, load_hardware
    from hwsim.hardware.describe import PEAK_SHAPE, config_fields, preset_description
    from hwsim.policy import bits_label
    from hwsim.units import align_columns

    hw = load_hardware(args.preset)
    fam = get_family(hw.family)
    try:
        description = preset_description(args.preset)
    except Exception:  # a TOML path: no preset comment to read
        description = fam.description
    print(f"{hw.name} [{hw.family}]: {description}")
    print(f"family {hw.family}: {fam.description}")
    rows = [["field", "value", "unit", "source"]]
    for row in config_fields(hw):
        rows.append([row.name, _value_text(row.value, row.unit), row.unit, row.source])
    print(align_columns(rows, rules=(1,), left=(0, 1, 2, 3)))
    m, k, n = PEAK_SHAPE
    print(
        f"peak throughput (MACs per second at utilization 1, from the cost model on one "
        f"{m} x {k} x {n} GEMM, at the bits the hardware runs each request at):"
    )
    peaks = [[bits_label(w, a), peak_text(hw, w, a)] for w, a in PEAK_BITS]
    print(align_columns([["bits", "peak"], *peaks], rules=(1,)))
    assumed = data_dependence(hw)
    if assumed:
        print(f"note: the steps depend on the data; with no measured statistics {assumed}")
    area = area_text(hw)
    if area is not None:
        print(f"area: {area}")
    if hw.family == "cpu" and any("on this machine" in s for s in hw.sources.values()):
        print(f"note: {CALIBRATION_NOTE}")
    return 0


def data_dependence(hw) -> str:
    """What a data-dependent config assumes without measured statistics ("" if it does not
    depend on the data)."""
    rule = getattr(hw, "step_rule_key", None)
    if rule is None or rule() is None:
        return ""
    return f"it assumes {hw.missing_stats_default()} (rule '{rule()}')"


def preset_rows() -> list[list[str]]:
    """The rows of ``hwsim hardware list`` (and ``hwsim simulate --list``), header first."""
    from hwsim.hardware import load_hardware, preset_names
    from hwsim.hardware.describe import array_summary, buffer_summary, preset_description
    from hwsim.units import format_quantity

    rows = [["preset", "family", "clock", "array", "buffers", "peak 8/8", "description"]]
    for name in preset_names():
        hw = load_hardware(name)
        rows.append(
            [
                name,
                hw.family,
                format_quantity(hw.frequency_hz, "Hz", 4),
                array_summary(hw),
                buffer_summary(hw),
                peak_text(hw, 8, 8),
                preset_description(name),
            ]
        )
    return rows


def run_list(args: argparse.Namespace) -> int:
    from hwsim.units import align_columns

    rows = preset_rows()
    print(align_columns(rows, rules=(1,), left=(0, 1, 3, 4, 6)))
    from hwsim.hardware import load_hardware, preset_names

    dependent = [n for n in preset_names() if data_dependence(load_hardware(n))]
    print("peak 8/8: MACs per second at utilization 1 with 8-bit weights and activations (see")
    print("`hwsim hardware show PRESET` for other precisions and every field's source)")
    if dependent:
        print(f"data-dependent presets ({', '.join(dependent)}): the peak at their stated")
        print("assumption, as with no measured statistics")
    return 0
