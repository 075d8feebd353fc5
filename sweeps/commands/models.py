"""``hwsim models``: the networks of the zoo, with the input each expects."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the zoo's networks",
        description="List the networks `hwsim simulate --model` and sweep specs accept by name: "
        "input shape (without the batch), the batch each is usually simulated at, whether it "
        "comes with published per-layer bits, and what it is. ONNX / QONNX files (.onnx) and "
        "saved workloads (.npz) are accepted by path as well.",
    )
    p.add_argument(
        "--macs",
        action="store_true",
        help="also extract each network (on the meta device) and show its layers and MACs",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    import models
    from hwsim.units import align_columns, format_quantity
    from models.zoo import entry

    header = ["name", "input", "batch", "bits"]
    header += ["layers", "MACs"] if args.macs else []
    rows = [[*header, "description"]]
    for name in models.names():
        e = entry(name)
        row = [name, "x".join(map(str, e.input_shape)), str(e.batch)]
        row.append("published" if e.default_bits else "-")
        if args.macs:
            with torch.device("meta"):
                net = models.build(name)
            w = models.extract_workload(net, models.example_input(name, e.batch).to("meta"))
            row += [str(len(w)), format_quantity(w.total_macs, "MACs")]
        rows.append([*row, e.description])
    print(align_columns(rows, rules=(1,), left=(0, 1, 3, len(header))))
    return 0
