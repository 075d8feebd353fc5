"""``hwsim codesign --hardware-space FILE.toml``: search the hardware and the bits together
(:mod:`quant.codesign.joint`), the space read with the sweep spec's ``[[hardware]]`` grammar."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_OUT = "runs/codesign"


def run_joint_command(
    args: argparse.Namespace, common: Mapping[str, Any], runtime: Any = None
) -> int:
    """Run the joint search for the parsed ``hwsim codesign`` arguments; ``common``: the
    :class:`quant.codesign.joint.JointConfig` fields its options give, but the hardware;
    ``runtime``: its :class:`quant.runtime.Runtime`."""
    from hwsim.errors import HwsimError
    from hwsim.units import format_quantity
    from quant.codesign.budgets import describe
    from quant.codesign.joint import JointConfig, run_joint
    from quant.codesign.joint_report import design_folder, write_joint
    from sweeps.hwspace import configs, load_space, reference

    if args.hardware is not None:
        raise HwsimError(
            "--hardware", args.hardware, "give --hardware or --hardware-space, not both"
        )
    space = load_space(args.hardware_space)
    hardware = configs(space)
    ref = reference(space)
    config = JointConfig(hardware=ref.name, **common)
    stem = Path(args.hardware_space).stem
    out = (
        Path(args.out)
        if args.out
        else Path(DEFAULT_OUT) / f"{config.model}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    result = run_joint(config, hardware, reference=ref, out=out, runtime=runtime)
    write_joint(result, out)
    df = result.designs
    budgets = ", ".join(describe(m, v) for m, v in config.budgets.items())
    area = "" if config.max_area is None else f", area <= {config.max_area:g} mm^2"
    print(
        f"{config.model} on {config.data}, {len(hardware)} hardware configurations "
        f"(reference {ref.name}), budget {budgets}{area}; float baseline "
        f"{100 * result.baseline_accuracy:.2f} %"
    )
    tuned = df[df["accuracy"].notna() & df["pareto"]]
    print(
        f"{int((df['status'] == 'ok').sum())} designs within budget, "
        f"{int(df['pareto'].sum())} on the Pareto front; fine-tuned Pareto designs:"
    )
    for _, row in tuned.sort_values(["accuracy", "area_mm2"], ascending=[False, True]).iterrows():
        h = int(row["design"])
        shown_area = "" if row["area_mm2"] != row["area_mm2"] else f"{row['area_mm2']:.3g} mm^2, "
        print(
            f"  d{h} {row['name']}: accuracy {100 * row['accuracy']:.2f} %, "
            f"{format_quantity(row['latency_s'], 's')}, {format_quantity(row['energy_j'], 'J')}, "
            f"{shown_area}predicted loss {row['predicted_loss']:.4g}  "
            f"({out / design_folder(result, h)})"
        )
    for note in result.notes:
        print(f"note: {note}")
    print(f"run folder: {out}  ({result.seconds:.0f} s)")
    return 0
