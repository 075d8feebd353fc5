"""``hwsim simulate``: one network (zoo, ONNX / QONNX, saved workload) on one hardware preset,
per layer and in total."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.policy import bits_label

# Printed columns: (report column, header, unit (None: a plain number), factor to that unit).
# Memory is shown in bytes with binary prefixes; bit counts are divided by 8.
COLUMNS: tuple[tuple[str, str, str | None, float], ...] = (
    ("cycles", "cycles", None, 1.0),
    ("stall_cycles", "stall", None, 1.0),
    ("latency_s", "latency", "s", 1.0),
    ("energy_j", "energy", "J", 1.0),
    ("compute_energy_j", "core", "J", 1.0),
    ("sram_energy_j", "sram", "J", 1.0),
    ("dram_energy_j", "dram", "J", 1.0),
    ("dram_read_bytes", "dram_rd", "B", 1.0),
    ("dram_write_bytes", "dram_wr", "B", 1.0),
    ("sram_bits", "sram_rw", "B", 1 / 8),
    ("weight_bits", "w_mem", "B", 1 / 8),
    ("activation_bits", "act_mem", "B", 1 / 8),
    ("utilization", "util", None, 1.0),
)

ENERGY_SPLIT = ("compute_energy_j", "sram_energy_j", "dram_energy_j")
"""The columns that split ``energy_j`` (shown as its percentages by default)."""

CYCLE_COLUMNS: tuple[str, ...] = ("cycles", "stall_cycles", "compute_cycles")
"""Cycle counts: whole numbers wherever they are printed or written (the CSV too)."""

LEGEND = """\
columns (units scale to fit each column and are shown in its header; columns that are zero
on every layer are left out):
  w/a, run      bits asked for (weight/activation), and the bits the hardware ran them at
  impl          CPU presets: the kernel that ran the layer (bitserial, int8, fp32)
  cycles        cycles of the layer, stalls included; stall: cycles the compute waits on memory
  latency       time of the layer at the hardware's clock
  energy        total energy; core, sram, dram: its split into compute, on-chip buffers, DRAM,
                as percentages of the layer's energy (--energy-split J: in the energy unit)
  traffic, per inference (data moved):
    dram_rd     bytes read from DRAM (re-reads included when a tensor does not fit on chip)
    dram_wr     bytes written to DRAM
    sram_rw     bytes read from and written to the on-chip buffers
  footprints (data held, not moved):
    w_mem       the layer's weights at the bits the hardware runs
    act_mem     its input plus output activations
  util          useful MACs / (cycles x peak MACs per cycle at the run bits)
"""

MODEL_HELP = (
    "a zoo network (see `hwsim models`), an ONNX / QONNX file (.onnx; its Quant nodes give "
    "the bits) or a saved workload (.npz)"
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="per-layer and total cost of a network on a hardware preset",
        description="Simulate a network (zoo name, ONNX / QONNX file or saved workload) on a "
        "hardware preset (or TOML) and print every layer's cycles, stalls, energy split, DRAM "
        "and buffer traffic, and footprints.",
        epilog=LEGEND,
    )
    p.add_argument("--list", action="store_true", help="list the hardware presets and exit")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--hardware", help="preset name (see --list) or hardware TOML path")
    bits = p.add_mutually_exclusive_group()
    bits.add_argument("--policy", type=Path, help="BitPolicy JSON file")
    bits.add_argument(
        "--bits",
        help="uniform weight/activation bits as 4/8 or w4a8 (32 = float) (default: the zoo "
        "entry's published bits, the ONNX file's quantizers, else 8/8)",
    )
    p.add_argument(
        "--float-bits",
        type=int,
        help="bits for the operands an ONNX file leaves unquantized (read as 32, float), e.g. "
        "a first layer reading the float input (default: keep them float)",
    )
    p.add_argument(
        "--batch",
        type=int,
        help="batch size (default: the zoo entry's; for an ONNX file with a symbolic batch, 1)",
    )
    p.add_argument(
        "--energy-split",
        choices=("percent", "J"),
        default="percent",
        help="show the core / sram / dram energy as percentages of each layer's energy, or in "
        "joules (in the energy column's unit)",
    )
    p.add_argument("--csv", type=Path, help="also write the per-layer table as CSV")
    p.set_defaults(func=run)


def parse_bits(text: str) -> tuple[int, int]:
    """``4/8`` or ``w4a8`` (as hwsim prints bits) to ``(w_bits, a_bits)``."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text) or re.fullmatch(
        r"\s*w(\d+)\s*/?\s*a(\d+)\s*", text, flags=re.IGNORECASE
    )
    if not m:
        raise HwsimError("--bits", text, "must be W/A or wWaA, e.g. 4/8 or w4a8")
    return int(m.group(1)), int(m.group(2))


def build_policy(args: argparse.Namespace, workload, model: LoadedModel) -> tuple[object, str]:
    """The policy the options ask for, and a line saying where it came from."""
    from hwsim import BitPolicy

    if args.policy is not None:
        return BitPolicy.load(args.policy), f"policy {args.policy}"
    if args.bits is not None:
        w, a = parse_bits(args.bits)
        return BitPolicy.uniform(workload, w, a), f"uniform {bits_label(w, a)}"
    if model.policy is not None:
        return model.policy, model.policy_origin
    return BitPolicy.uniform(workload, 8, 8), "uniform w8a8 (the model carries no bits)"


@dataclass(frozen=True)
class LoadedModel:
    """A ``--model`` read: its workload, the bits it comes with (if any) and where from."""

    workload: object
    batch_note: str
    policy: object | None = None
    policy_origin: str = ""


def load_model(ref: str, batch: int | None, float_bits: int | None = None) -> LoadedModel:
    """A zoo name, an ``.onnx`` file or a saved ``.npz`` workload, at ``batch``
    (``float_bits``: the bits of an ONNX file's unquantized operands)."""
    from hwsim import BitPolicy, Workload

    if isinstance(batch, bool) or not (batch is None or (isinstance(batch, int) and batch >= 1)):
        raise HwsimError("--batch", batch, "must be an integer >= 1")
    path = Path(ref)
    if path.suffix.lower() == ".npz":
        workload = Workload.load(path)
        saved = int(workload.batch.max())
        if batch is not None and batch != saved:
            raise HwsimError("--batch", batch, f"a saved workload's batch is fixed ({saved})")
        return LoadedModel(workload, f"batch {saved}")
    if path.suffix.lower() == ".onnx":
        from models.onnx_import import load_onnx

        note = ""
        try:
            onnx_model = load_onnx(path, batch=batch, float_bits=float_bits)
        except HwsimError as exc:
            if exc.field != "batch" or batch is not None:
                raise
            onnx_model = load_onnx(path, batch=1, float_bits=float_bits)
            note = ", the file's symbolic batch"
        workload = onnx_model.workload
        policy, origin = onnx_model.policy, ""
        if policy is not None:
            floats = sum(32 in pair for pair in policy.bits.values())
            origin = "bits from the file's quantizers" + (
                f" ({floats} layers with a float operand at 32)" if floats else ""
            )
            if float_bits is not None:
                origin += f", unquantized operands at {float_bits} bits (--float-bits)"
        return LoadedModel(workload, f"batch {int(workload.batch[0])}{note}", policy, origin)
    import models
    from models.zoo import entry

    e = entry(ref)
    batch = e.batch if batch is None else batch
    with __import__("torch").device("meta"):
        net = models.build(ref)
    x = models.example_input(ref, batch).to("meta")
    workload = models.extract_workload(net, x, name=ref)
    if not e.default_bits:
        return LoadedModel(workload, f"batch {batch}")
    bits = {n: tuple(e.default_bits.get(n, (8, 8))) for n in workload.layer_names}
    missing = sum(n not in e.default_bits for n in workload.layer_names)
    note = f" ({missing} layers without published bits at 8/8)" if missing else ""
    return LoadedModel(
        workload, f"batch {batch}", BitPolicy(bits), f"the zoo entry's published bits{note}"
    )


def format_table(report, energy_split: str = "percent") -> str:
    """The per-layer table and its TOTAL row; each column in one unit, chosen to fit it, and
    every energy column in the energy column's unit. Columns that are zero on every layer are
    left out; the energy split is in percent of the row's energy unless ``energy_split="J"``."""
    from hwsim.hardware.cpu import IMPLEMENTATIONS as KERNELS
    from hwsim.units import align_columns, column_scale

    df, t = report.layers, report.totals
    header = ["layer", "w/a", "run"]
    impl = None
    if "implementation" in df.columns and df["implementation"].notna().all():
        impl = [KERNELS[int(i)] for i in df["implementation"]]
        header.append("impl")
    cells: list[list[str]] = [[] for _ in range(len(df) + 1)]
    energy = [*df["energy_j"], t["energy_j"]]
    e_divisor, e_label = column_scale(energy, "J")
    for key, name, unit, factor in COLUMNS:
        values = [*(df[key] * factor), t[key] * factor]
        if key in CYCLE_COLUMNS:
            # Whole cycles per layer, as the CSV writes them; TOTAL is their sum.
            whole = [round(v) for v in values[:-1]]
            values = [*whole, sum(whole)]
        if all(v == 0 for v in values):
            continue  # e.g. a CPU's sram energy
        if key in ENERGY_SPLIT and energy_split == "percent":
            header.append(f"{name}%")
            pairs = zip(values, energy, strict=True)
            texts = [f"{100 * v / e:.0f}" if e > 0 else "-" for v, e in pairs]
        elif unit is None:
            header.append(name)
            fmt = "{:.3f}" if key == "utilization" else "{:.0f}"
            texts = [fmt.format(v) for v in values]
        else:
            divisor, label = (e_divisor, e_label) if unit == "J" else column_scale(values, unit)
            header.append(f"{name}[{label}]")
            texts = [f"{v / divisor:.4g}" for v in values]
        for row, text in zip(cells, texts, strict=True):
            row.append(text)
    rows = [header]
    for i, ((_, r), row) in enumerate(zip(df.iterrows(), cells, strict=False)):
        bits = f"{int(r['w_bits'])}/{int(r['a_bits'])}"
        run = f"{int(r['w_bits_run'])}/{int(r['a_bits_run'])}"
        rows.append([str(r["name"]), bits, run, *([impl[i]] if impl else []), *row])
    rows.append(["TOTAL", "", "", *([""] if impl else []), *cells[-1]])
    left = (0, 3) if impl else (0,)
    return align_columns(rows, rules=(1, len(rows) - 1), left=left)


def csv_frame(report):
    """The per-layer table as written by ``--csv``: cycle counts as integers, the CPU's
    kernel by name."""
    import numpy as np

    df = report.layers.copy()
    for key in CYCLE_COLUMNS:
        if key in df.columns:
            df[key] = np.rint(df[key]).astype(np.int64)
    if "implementation" in df.columns and df["implementation"].notna().all():
        from hwsim.hardware.cpu import IMPLEMENTATIONS as KERNELS

        df["implementation"] = [KERNELS[int(i)] for i in df["implementation"]]
    return df


def run(args: argparse.Namespace) -> int:
    from hwsim.hardware import load_hardware, simulate
    from hwsim.units import format_quantity

    if args.list:
        from sweeps.commands.hardware import run_list

        return run_list(args)
    if not args.model or not args.hardware:
        raise HwsimError("--model/--hardware", None, "both are required (or use --list)")
    float_bits = getattr(args, "float_bits", None)
    if float_bits is not None and Path(args.model).suffix.lower() != ".onnx":
        raise HwsimError("--float-bits", float_bits, "applies to an ONNX file's bits only")
    model = load_model(args.model, args.batch, float_bits)
    hw = load_hardware(args.hardware)
    workload = model.workload
    policy, origin = build_policy(args, workload, model)
    try:
        report = simulate(workload, policy, hw)
    except HwsimError as exc:
        from_file = Path(args.model).suffix.lower() == ".onnx" and policy is model.policy
        if exc.value != 32 or not from_file:
            raise
        raise HwsimError(
            exc.field,
            exc.value,
            f"{exc.reason}. Here 32 is an operand the ONNX file leaves unquantized (float: "
            "no quantizer on it, e.g. a first layer reading the float input). Give it bits "
            "with --float-bits 8 (every unquantized operand at 8 bits), --bits W/A or "
            "--policy FILE",
        ) from exc
    print(
        f"{workload.name} ({model.batch_note}, {len(workload)} layers) on {hw.name} "
        f"[{hw.family}], {origin}"
    )
    print(format_table(report, getattr(args, "energy_split", "percent")))
    t = report.totals
    print(
        f"latency {format_quantity(t['latency_s'], 's')}, "
        f"energy {format_quantity(t['energy_j'], 'J')}, "
        f"DRAM traffic {format_quantity(t['dram_bytes'], 'B')}, "
        f"{format_quantity(t['total_macs'], 'MACs')}, utilization {t['utilization']:.3f}"
    )
    for note in report.notes:  # one per reason, each with its layer count
        print(f"note: {note}")
    if args.csv is not None:
        from hwsim.io import atomic_write_text

        atomic_write_text(args.csv, csv_frame(report).to_csv(index=False))
        print(f"wrote {args.csv}")
    return 0
