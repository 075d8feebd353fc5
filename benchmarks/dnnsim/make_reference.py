"""Reference data from DNNsim: train two small digits networks, write their integer traces,
run every bit-serial family in DNNsim, and keep its per-layer compute cycles.

DNNsim (isakedo/DNNsim) is an independent C++ cycle-level simulator of DaDianNao, Stripes,
DynamicStripes, ShapeShifter, Loom, Bit-Pragmatic, Laconic and Bit Fusion. It is built outside
this repository (see README.md beside this file); only its outputs are kept here:

- ``tests/hwsim/hardware/data/dnnsim/<net>.npz``: per layer the input activation codes (one
  image, unpadded ``[C, H, W]`` or ``[K]``), the weight codes (``OIHW`` or ``[N, K]``) and the
  layer's bits; ``<net>.json``: the layer geometry and bits;
- ``tests/hwsim/hardware/data/dnnsim/cycles.csv``: ``network, layer, config, compute_cycles``.

Run: ``python benchmarks/dnnsim/make_reference.py --dnnsim /work/dnnsim --dnnsim-old
/work/dnnsim_old --work /tmp/dnnsim_runs`` (about a minute of training on 2 cores, then a few
seconds per DNNsim run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hwsim.bits import quantize
from models.data import load_digits

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "hwsim" / "hardware" / "data" / "dnnsim"
SEED = 0

# ---------------------------------------------------------------------------------- networks
# (name, kind, in_ch, out_ch, kernel, stride, pad, groups, w_bits, a_bits). Names with "fc"
# are FC layers (DNNsim's older trace_params.csv tells the two apart by that substring).
RGBNET = [
    ("conv1", "conv", 3, 16, 3, 1, 1, 1, 8, 8),
    ("conv2", "conv", 16, 32, 3, 2, 1, 1, 6, 7),
    ("conv3", "conv", 32, 32, 1, 1, 0, 1, 5, 9),
    ("conv4", "depthwise", 32, 32, 3, 1, 1, 32, 7, 6),
    ("conv5", "conv", 32, 64, 3, 2, 1, 1, 4, 10),
    ("conv6", "conv", 64, 64, 1, 2, 0, 1, 9, 5),
    ("fc1", "linear", 1024, 128, 1, 1, 0, 1, 6, 8),
    ("fc2", "linear", 128, 10, 1, 1, 0, 1, 8, 12),
]
"""32x32 pseudo-RGB digits: a 3-channel first layer, strided 3x3 and 1x1, 1x1, depthwise, FC."""

GRAYNET = [
    ("conv1", "conv", 1, 8, 5, 1, 2, 1, 8, 6),
    ("conv2", "conv", 8, 24, 3, 2, 1, 1, 7, 11),
    ("conv3", "conv", 24, 48, 3, 1, 1, 1, 5, 8),
    ("conv4", "conv", 48, 64, 1, 1, 0, 1, 12, 4),
    ("fc1", "linear", 4096, 200, 1, 1, 0, 1, 4, 7),
    ("fc2", "linear", 200, 10, 1, 1, 0, 1, 10, 9),
]
"""16x16 grey digits: narrow 1- and 8-channel convs, 24 channels (not a multiple of 16), FC."""

NETWORKS = {"rgbnet": (RGBNET, 3, 32), "graynet": (GRAYNET, 1, 16)}
TINT = (1.0, 0.7, 0.4)  # pseudo-RGB: one tint per channel, so the channels differ


class Net(nn.Module):
    """Convs with ReLU, then flatten and FC layers, ReLU between FCs, as the spec lists."""

    def __init__(self, spec: list[tuple]) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict()
        for name, kind, cin, cout, k, s, p, g, _, _ in spec:
            if kind == "linear":
                self.layers[name] = nn.Linear(cin, cout)
            else:
                self.layers[name] = nn.Conv2d(cin, cout, k, s, p, groups=g)

    def forward(self, x: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        for i, (name, kind, *_rest) in enumerate(self.spec):
            if kind == "linear" and x.dim() > 2:
                x = x.flatten(1)
            if record is not None:
                record[name] = x.detach()
            x = self.layers[name](x)
            if i < len(self.spec) - 1:
                x = F.relu(x)
        return x


def images(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Digits upsampled to ``size`` (bilinear), tinted into ``channels`` channels."""
    up = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return torch.cat([up * TINT[c] for c in range(channels)], dim=1)


def train(spec: list[tuple], channels: int, size: int, epochs: int = 6) -> tuple[Net, float]:
    torch.manual_seed(SEED)
    data = load_digits(seed=SEED)
    net = Net(spec)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x_tr = images(data.x_train, channels, size)
    for _ in range(epochs):
        perm = torch.randperm(len(x_tr))
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(net(x_tr[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (net(images(data.x_test, channels, size)).argmax(1) == data.y_test).float().mean()
    return net, float(acc)


def integer_traces(net: Net, channels: int, size: int) -> dict[str, dict]:
    """Per layer: the weight codes (signed, symmetric, per tensor) and one test image's input
    activation codes (unsigned, scale from the 99.9th percentile over 128 training images)."""
    data = load_digits(seed=SEED)
    calib: dict[str, torch.Tensor] = {}
    sample: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        net(images(data.x_train[:128], channels, size), calib)
        net(images(data.x_test[:1], channels, size), sample)
    out = {}
    for name, *_geometry, w_bits, a_bits in net.spec:
        w_codes, _ = quantize(net.layers[name].weight.detach().numpy(), w_bits, signed=True)
        peak = float(np.quantile(calib[name].numpy(), 0.999)) or 1.0
        a_scale = peak / ((1 << a_bits) - 1)
        a = sample[name][0].numpy()
        a_codes = np.clip(np.rint(a / a_scale), 0, (1 << a_bits) - 1).astype(np.int64)
        out[name] = {"w": w_codes, "a": a_codes}
    return out


def geometry(spec: list[tuple], channels: int, size: int) -> list[dict]:
    rows, h = [], size
    for name, kind, cin, cout, k, s, p, g, w_bits, a_bits in spec:
        if kind == "linear":
            rows.append(
                {"name": name, "kind": "linear", "in_channels": cin, "out_channels": cout,
                 "w_bits": w_bits, "a_bits": a_bits}
            )  # fmt: skip
            continue
        out_h = (h + 2 * p - k) // s + 1
        rows.append(
            {"name": name, "kind": kind, "in_channels": cin, "out_channels": cout,
             "in_h": h, "in_w": h, "out_h": out_h, "out_w": out_h, "kernel_h": k,
             "kernel_w": k, "stride_h": s, "stride_w": s, "pad_h": p, "pad_w": p,
             "groups": g, "w_bits": w_bits, "a_bits": a_bits}
        )  # fmt: skip
        h = out_h
    rows[0]["first"] = 1
    return rows


# ---------------------------------------------------------------------------------- DNNsim
COMMON = """
        lanes: 16
        rows: 16
        tiles: 16
        pe_width: 16
        cpu_clock_freq: "1GHz"
        dram_conf: "DDR4_3200"
        dram_size: "16GiB"
        dram_start_act_address: 0x80000000
        dram_start_wgt_address: 0x00000000
        gbuffer_act_levels: 1
        gbuffer_wgt_levels: 1
        gbuffer_act_size: "1GiB"
        gbuffer_wgt_size: "1GiB"
        gbuffer_act_banks: 32
        gbuffer_wgt_banks: 256
        gbuffer_act_bank_width: 256
        gbuffer_wgt_bank_width: 256
        gbuffer_act_read_delay: 2
        gbuffer_act_write_delay: 2
        gbuffer_wgt_read_delay: 2
        abuffer_rows: 2
        abuffer_read_delay: 1
        wbuffer_rows: 2
        wbuffer_read_delay: 1
        obuffer_rows: 2
        obuffer_write_delay: 1
        composer_inputs: 256
        composer_delay: 1
        ppu_inputs: 16
        ppu_delay: 1
"""
"""The memory and array settings of DNNsim's example batch files (examples/*/), shared."""

# config name -> (architecture, its own fields). Paper configurations as the example batch
# files set them; "ideal" Pragmatic configs widen the first-stage shifter to all 16 bits and
# drop Booth encoding, with (cr1) and without (cr0) run-ahead registers.
CONFIGS = {
    "dadiannao": ("DaDianNao", "columns: 1"),
    "stripes": ("Stripes", "columns: 16"),
    "shapeshifter": ("ShapeShifter", "columns: 16\ngroup_size: 1\ncolumn_registers: 0"),
    "loom": (
        "Loom",
        "columns: 16\ngroup_size: 1\npe_serial_bits: 1\nminor_bit: false\ndynamic_weights: false",
    ),
    "loom-256": (
        "Loom",
        "columns: 256\ngroup_size: 1\npe_serial_bits: 1\nminor_bit: false\ndynamic_weights: false",
    ),
    "pragmatic": (
        "BitPragmatic",
        "columns: 16\nbits_first_stage: 2\ncolumn_registers: 1\nbooth_encoding: true",
    ),
    "pragmatic-ideal-cr0": (
        "BitPragmatic",
        "columns: 16\nbits_first_stage: 4\ncolumn_registers: 0\nbooth_encoding: false",
    ),
    "pragmatic-ideal-cr1": (
        "BitPragmatic",
        "columns: 16\nbits_first_stage: 4\ncolumn_registers: 1\nbooth_encoding: false",
    ),
    "laconic": ("Laconic", "columns: 16\nbooth_encoding: true"),
    "laconic-noboth": ("Laconic", "columns: 16\nbooth_encoding: false"),
}

OLD_CONFIGS = {
    # f8935f0's DynamicStripes example: 16x16x16 tiles, run-ahead register, per-16 groups.
    "dynamic-stripes": (
        "DynamicStripes",
        "n_lanes: 16\nn_columns: 16\nn_rows: 16\nn_tiles: 16\ncolumn_registers: 1\n"
        "precision_granularity: 16\nleading_bit: true\nbits_pe: 16\ndiffy: false",
    ),
    "bitfusion-dnnsim": ("BitFusion", "M: 32\nN: 16\nPMAX: 8\nPMIN: 2"),
}


SIGN_BIT_NET = "{net}-unsigned"
"""f8935f0's DynamicStripes reads the top bit of an ``a``-bit code as a sign (its sign-magnitude
mask is ``1 << (precision - 1)``); declaring one more activation bit (in a copy of the network
used only for it) keeps unsigned codes whole."""


def write_traces(
    work: Path, net: str, spec: list[tuple], codes: dict, old: bool, extra_act_bit: bool = False
) -> None:
    name = SIGN_BIT_NET.format(net=net) if extra_act_bit else net
    model_dir = work / "models" / name
    trace_dir = work / "net_traces" / name
    model_dir.mkdir(parents=True, exist_ok=True)
    trace_dir.mkdir(parents=True, exist_ok=True)
    layers = [r for r in spec if not (old and r[1] == "linear")]  # old BitFusion: no FC
    if old:
        lines = [f"{n},{co},{k},{k},{s},{p}" for n, kind, ci, co, k, s, p, g, *_ in layers]
        (model_dir / "trace_params.csv").write_text("\n".join(lines) + "\n")
    else:
        lines = [
            f"{n},{'fc' if kind == 'linear' else 'conv'},{s},{p}"
            for n, kind, ci, co, k, s, p, *_ in layers
        ]
        (model_dir / "model.csv").write_text("\n".join(lines) + "\n")
    a_bits = [r[9] + int(extra_act_bit) for r in layers]
    w_bits = [r[8] for r in layers]
    # precision.txt: header, activation magnitudes, fractions, weight magnitudes, fractions.
    prec = ["magnitude;fraction;wgt_magnitude;wgt_fraction"]
    prec += [";".join(map(str, a_bits)), ";".join("0" for _ in layers)]
    prec += [";".join(map(str, w_bits)), ";".join("0" for _ in layers)]
    (model_dir / "precision.txt").write_text("\n".join(prec) + "\n")
    for r in layers:
        name = r[0]
        np.save(trace_dir / f"wgt-{name}.npy", codes[name]["w"].astype(np.float32))
        np.save(trace_dir / f"act-{name}-0.npy", codes[name]["a"][None].astype(np.float32))


def run_dnnsim(binary: Path, src: Path, work: Path, net: str, cfg: str, arch: str, fields: str,
               old: bool) -> pd.DataFrame:  # fmt: skip
    """Run one configuration from a scratch copy of DNNsim's root (it opens DRAMSim2's ini
    files relative to the working directory) and return its per-layer compute cycles."""
    run_dir = work / "runs" / f"{net}-{cfg}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    for sub in ("models", "net_traces"):
        (run_dir / sub).symlink_to(work / ("old" if old else "new") / sub)
    (run_dir / "DRAMSim2").symlink_to(src / "DRAMSim2")
    body = "\n".join("        " + line for line in fields.splitlines())
    if old:
        batch = (
            f'simulate {{\n network: "{net}"\n model: "Trace"\n data_type: "Fixed16"\n'
            f" unsigned_activations: true\n batch: 0\n experiment {{\n"
            f'  architecture: "{arch}"\n  task: "Cycles"\n{body}\n }}\n}}\n'
        )
    else:
        batch = (
            f'simulate {{\n network: "{net}"\n model: "CSV"\n data_type: "Fixed"\n'
            f" quantised: true\n batch: 0\n experiment {{\n"
            f'  architecture: "{arch}"\n  task: "Cycles"\n  dataflow: "WindowFirstOutS"\n'
            f"{body}\n{COMMON}\n }}\n}}\n"
        )
    (run_dir / "batch.txt").write_text(batch)
    args = [str(binary), "batch.txt", "--quiet"]
    if not old:
        args.append("--check_values")  # recompute every output: proves the traces were read
    proc = subprocess.run(args, cwd=run_dir, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"DNNsim {cfg} on {net} failed:\n{proc.stdout}\n{proc.stderr}")
    csvs = sorted((run_dir / "results" / net).glob("*.csv"))
    if not csvs:
        raise RuntimeError(f"DNNsim {cfg} on {net} wrote no results:\n{proc.stdout}")
    return parse_results(csvs[-1], "compute_cycles" if not old else "cycles")


def parse_results(path: Path, column: str) -> pd.DataFrame:
    """The per-layer rows of one sample from a DNNsim results CSV (a text header, then a
    table whose first column is the layer and which ends with averages and totals)."""
    lines = path.read_text().splitlines()
    # 4748a60 writes "Per sample scalar results", f8935f0 "Per image scalar results".
    start = next(i for i, line in enumerate(lines) if line.startswith(("Per sample", "Per image")))
    rows = []
    header = lines[start + 1].split(",")
    for line in lines[start + 2 :]:
        cells = line.split(",")
        if len(cells) != len(header) or cells[1] != "0":  # sample 0 only
            break
        rows.append(dict(zip(header, cells, strict=True)))
    df = pd.DataFrame(rows)
    return pd.DataFrame({"layer": df["Layer"], "compute_cycles": df[column].astype(np.int64)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dnnsim", type=Path, required=True, help="DNNsim @4748a60 source root")
    ap.add_argument("--dnnsim-old", type=Path, help="DNNsim @f8935f0 source root")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dnnsim_runs")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument(
        "--reuse-codes", action="store_true", help="keep the committed codes, rerun DNNsim only"
    )
    ap.add_argument("--only", nargs="*", help="run only these configs; keep the others' rows")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    args.out.mkdir(parents=True, exist_ok=True)
    frames = []
    for net, (spec, channels, size) in NETWORKS.items():
        if args.reuse_codes and (args.out / f"{net}.npz").exists():
            with np.load(args.out / f"{net}.npz") as z:
                codes = {r[0]: {"w": z[f"{r[0]}.w"], "a": z[f"{r[0]}.a"]} for r in spec}
        else:
            model, acc = train(spec, channels, size)
            codes = integer_traces(model, channels, size)
            geo = geometry(spec, channels, size)
            meta = {"network": net, "test_accuracy": round(acc, 4), "layers": geo}
            (args.out / f"{net}.json").write_text(json.dumps(meta, indent=1) + "\n")
            arrays = {}
            for name in codes:
                arrays[f"{name}.w"] = codes[name]["w"].astype(np.int16)
                arrays[f"{name}.a"] = codes[name]["a"].astype(np.uint16)
            np.savez_compressed(args.out / f"{net}.npz", **arrays)
            print(f"{net}: test accuracy {acc:.3f}")
        for old, configs, src in (
            (False, CONFIGS, args.dnnsim),
            (True, OLD_CONFIGS, args.dnnsim_old),
        ):
            if src is None:
                continue
            write_traces(args.work / ("old" if old else "new"), net, spec, codes, old)
            if old:
                write_traces(args.work / "old", net, spec, codes, old, extra_act_bit=True)
            for cfg, (arch, fields) in configs.items():
                if args.only and cfg not in args.only:
                    continue
                run_net = SIGN_BIT_NET.format(net=net) if cfg == "dynamic-stripes" else net
                df = run_dnnsim(src / "DNNsim", src, args.work, run_net, cfg, arch, fields, old)
                df.insert(0, "config", cfg)
                df.insert(0, "network", net)
                frames.append(df)
                print(f"  {cfg}: {df['compute_cycles'].tolist()}")
    out = pd.concat(frames, ignore_index=True)
    if args.only and (args.out / "cycles.csv").exists():
        kept = pd.read_csv(args.out / "cycles.csv")
        out = pd.concat([kept[~kept["config"].isin(args.only)], out], ignore_index=True)
    tmp = args.out / "cycles.csv.tmp"
    out.to_csv(tmp, index=False)
    tmp.replace(args.out / "cycles.csv")


if __name__ == "__main__":
    main()
