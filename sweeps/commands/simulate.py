"""``hwsim simulate``: one zoo network on one hardware preset, per layer and in total."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from hwsim.errors import HwsimError

# Printed columns: (report column, header, scale, format)
COLUMNS: tuple[tuple[str, str, float, str], ...] = (
    ("cycles", "cycles", 1.0, "{:.0f}"),
    ("stall_cycles", "stall", 1.0, "{:.0f}"),
    ("latency_s", "lat_ms", 1e3, "{:.4g}"),
    ("energy_j", "E_uJ", 1e6, "{:.4g}"),
    ("compute_energy_j", "core_uJ", 1e6, "{:.4g}"),
    ("sram_energy_j", "sram_uJ", 1e6, "{:.4g}"),
    ("dram_energy_j", "dram_uJ", 1e6, "{:.4g}"),
    ("dram_read_bytes", "rd_KB", 1e-3, "{:.4g}"),
    ("dram_write_bytes", "wr_KB", 1e-3, "{:.4g}"),
    ("sram_bits", "sram_kbit", 1e-3, "{:.4g}"),
    ("weight_bits", "w_kbit", 1e-3, "{:.4g}"),
    ("activation_bits", "act_kbit", 1e-3, "{:.4g}"),
    ("utilization", "util", 1.0, "{:.3f}"),
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="per-layer and total cost of a zoo network on a hardware preset",
        description="Simulate a zoo network on a hardware preset (or TOML) and print every "
        "layer's cycles, stalls, energy split, DRAM traffic, buffer traffic and footprints.",
    )
    p.add_argument("--list", action="store_true", help="list the hardware presets and exit")
    p.add_argument("--model", help="zoo network name")
    p.add_argument("--hardware", help="preset name or TOML path")
    bits = p.add_mutually_exclusive_group()
    bits.add_argument("--policy", type=Path, help="BitPolicy JSON file")
    bits.add_argument("--bits", help="uniform W/A bits, e.g. 4/8 (32 = float)")
    p.add_argument("--batch", type=int, help="batch size (default: the zoo entry's)")
    p.add_argument("--csv", type=Path, help="also write the per-layer table as CSV")
    p.set_defaults(func=run)


def parse_bits(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise HwsimError("--bits", text, "must be W/A, e.g. 4/8")
    return int(m.group(1)), int(m.group(2))


def build_policy(args: argparse.Namespace, workload, entry) -> tuple[object, str]:
    """The policy the options ask for, and a line saying where it came from."""
    from hwsim import BitPolicy

    if args.policy is not None:
        return BitPolicy.load(args.policy), f"policy {args.policy}"
    if args.bits is not None:
        w, a = parse_bits(args.bits)
        return BitPolicy.uniform(workload, w, a), f"uniform w{w}/a{a}"
    if entry.default_bits:
        bits = {n: tuple(entry.default_bits.get(n, (8, 8))) for n in workload.layer_names}
        missing = sum(n not in entry.default_bits for n in workload.layer_names)
        note = f" ({missing} layers without published bits at 8/8)" if missing else ""
        return BitPolicy(bits), f"the zoo entry's published bits{note}"
    return BitPolicy.uniform(workload, 8, 8), "uniform w8/a8 (no published bits)"


def format_table(report) -> str:
    df = report.layers
    rows = [["layer", "w/a", "run", *[c[1] for c in COLUMNS]]]
    for _, r in df.iterrows():
        rows.append(
            [
                str(r["name"]),
                f"{int(r['w_bits'])}/{int(r['a_bits'])}",
                f"{int(r['w_bits_run'])}/{int(r['a_bits_run'])}",
                *[fmt.format(r[key] * scale) for key, _, scale, fmt in COLUMNS],
            ]
        )
    t = report.totals
    rows.append(["TOTAL", "", "", *[fmt.format(t[key] * scale) for key, _, scale, fmt in COLUMNS]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hwsim.hardware import load_hardware, preset_names, simulate

    if args.list:
        for name in preset_names():
            hw = load_hardware(name)
            print(f"{name:16s} {hw.family}")
        return 0
    if not args.model or not args.hardware:
        raise HwsimError("--model/--hardware", None, "both are required (or use --list)")
    import models
    from models.zoo import entry

    e = entry(args.model)
    batch = e.batch if args.batch is None else args.batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise HwsimError("--batch", batch, "must be an integer >= 1")
    hw = load_hardware(args.hardware)
    with __import__("torch").device("meta"):
        net = models.build(args.model)
    x = models.example_input(args.model, batch).to("meta")
    workload = models.extract_workload(net, x, name=args.model)
    policy, origin = build_policy(args, workload, e)
    report = simulate(workload, policy, hw)
    print(
        f"{args.model} (batch {batch}, {len(workload)} layers) on {hw.name} [{hw.family}], {origin}"
    )
    print(format_table(report))
    t = report.totals
    print(
        f"latency {t['latency_s'] * 1e3:.4g} ms, energy {t['energy_j'] * 1e6:.4g} uJ, "
        f"DRAM {t['dram_bytes'] / 1e6:.4g} MB, {t['total_macs'] / 1e9:.4g} GMACs, "
        f"utilization {t['utilization']:.3f}"
    )
    for note in report.notes[:5]:
        print(f"note: {note}")
    if len(report.notes) > 5:
        print(f"note: ... and {len(report.notes) - 5} more layers ran at other precisions")
    if args.csv is not None:
        from hwsim.io import atomic_write_text

        atomic_write_text(args.csv, report.layers.to_csv(index=False))
        print(f"wrote {args.csv}")
    return 0
