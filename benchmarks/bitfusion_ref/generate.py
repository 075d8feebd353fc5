"""Reference data from the public Bit Fusion simulator away from its default configuration.

Runs the authors' simulator (github hsharma35/bitfusion, with its dependency
hsharma35/dnnweaver2) under Python 2.7 at the configurations in ``CONFIGS``: array shape,
buffer sizes and DRAM interface width changed, no energy or area field overridden, so the
simulator prices every configuration itself from its synthesis table
(``results/systolic_array_synth.csv``) and its CACTI table (``bitfusion/sram/cacti_sweep.csv``).
The simulator only runs where that CACTI table holds every bank size, so each configuration
here is chosen to land on its rows.

Writes two CSV files into ``--out``:

- ``bitfusion_ref_configs.csv``: per configuration, the energy costs the simulator derived
  (``get_energy_cost``: core nJ per cycle, per-bit buffer energies in nJ), its ``get_area``
  breakdown (mm^2), and the leakage of the same table rows (core nW from the synthesis row
  scaled like its power, buffer mW x banks), as the simulator's log reports them;
- ``bitfusion_ref_layers.csv``: per configuration, network and layer of its benchmark list
  (WRPN AlexNet and ResNet-18 as its sweep runs them), cycles, stall cycles, buffer and DRAM
  bits, and ``Stats.get_energy_breakdown`` (core, SRAM, DRAM; nJ).

Usage (Python 2.7 with numpy, pandas and graphviz importable; nothing of the simulator is
copied into this repository)::

    python2 benchmarks/bitfusion_ref/generate.py --bitfusion /path/to/bitfusion \\
        --dnnweaver2 /path/to/dnnweaver2 --out tests/hwsim/hardware/data
"""

# This script runs under Python 2.7, beside the simulator: no f-strings or unpacking in lists.
# ruff: noqa: UP010, UP032, RUF005, RUF046

from __future__ import division, print_function

import argparse
import csv
import math
import os
import sys
import tempfile
import time

# name: (N rows, M cols, Wgt_SRAM, Act_SRAM, Out_SRAM bytes, if_width bits/cycle)
CONFIGS = [
    ("bf_e_default", 16, 32, 65536, 32768, 16384, 192),
    ("n8_m16", 8, 16, 131072, 16384, 8192, 128),
    ("n16_m16", 16, 16, 262144, 131072, 8192, 64),
    ("n32_m32", 32, 32, 131072, 131072, 131072, 256),
    ("n32_m64", 32, 64, 262144, 65536, 32768, 512),
    ("n2_m8", 2, 8, 16384, 4096, 4096, 96),
]

CONF_TEMPLATE = """[system]
if_width = {bw}

[accelerator]
frequency = 500000000
Wgt_SRAM = {wbuf}
Act_SRAM = {ibuf}
Out_SRAM = {obuf}
a = {n}
c = {m}
high_prec = 8
low_prec = 2
"""

LAYER_FIELDS = [
    "config",
    "network",
    "layer",
    # the layer as the simulator's get_cycles reads it from the benchmark graph
    "B",
    "O",
    "K",
    "S",
    "IC",
    "OC",
    "a",
    "w",
    "im2col",
    "cycles",
    "stall_cycles",
    "wbuf_read",
    "wbuf_write",
    "ibuf_read",
    "ibuf_write",
    "obuf_read",
    "obuf_write",
    "dram_read",
    "dram_write",
    "core_energy_nj",
    "sram_energy_nj",
    "dram_energy_nj",
    "energy_nj",
]

CONFIG_FIELDS = [
    "config",
    "rows",
    "cols",
    "max_bits",
    "min_bits",
    "wbuf_bytes",
    "ibuf_bytes",
    "obuf_bytes",
    "dram_bits_per_cycle",
    "core_dynamic_energy_nj",
    "wbuf_read_energy_nj",
    "wbuf_write_energy_nj",
    "ibuf_read_energy_nj",
    "ibuf_write_energy_nj",
    "obuf_read_energy_nj",
    "obuf_write_energy_nj",
    "core_area_mm2",
    "wbuf_area_mm2",
    "ibuf_area_mm2",
    "obuf_area_mm2",
    "core_leak_nw",
    "wbuf_leak_mw",
    "ibuf_leak_mw",
    "obuf_leak_mw",
]


def leakage(sim, synth_csv):
    """Leakage of the rows the simulator reads, scaled as its ``get_area`` log scales it."""
    import pandas

    acc = sim.accelerator
    n, m, pmax, pmin = acc.N, acc.M, acc.pmax, acc.pmin
    word = pmax * pmax // pmin
    out = {}
    for key, sram, banks, bits, port in (
        ("wbuf", "wgt", n * m, word, 0),
        ("ibuf", "act", n, word, 0),
        ("obuf", "out", m, 32, 1),
    ):
        bank_bits = int(math.ceil(acc.sram[sram] * 8 / (banks * bits))) * bits
        row = sim.sram_obj.get_data_clean(
            {
                "size (bytes)": bank_bits / 8.0,
                "block size (bytes)": bits / 8.0,
                "read-write port": port,
            }
        )
        out[key + "_leak_mw"] = float(row["leak_power_mW"]) * banks
    synth = pandas.read_csv(synth_csv).drop_duplicates()
    sel = synth[(synth["Max Precision (bits)"] == pmax) & (synth["Min Precision (bits)"] == pmin)]
    exact = sel[(sel["N"] == n) & (sel["M"] == m)]
    if len(exact):
        out["core_leak_nw"] = float(exact["Leakage Power (nW)"])
    else:
        four = sel[(sel["N"] == 4) & (sel["M"] == 4)]
        out["core_leak_nw"] = float(four["Leakage Power (nW)"]) * (n * m) / 16.0
    return out


def layer_shape(op):
    """(B, O, K, S, IC, OC, a bits, w bits, im2col) as ``Simulator.get_cycles`` reads an op
    (a MatMul is its 1 x 1 convolution over a 1 x 1 output)."""
    from dnnweaver2.tensorOps.cnn import Convolution, MatMul

    if isinstance(op, Convolution):
        b = op.data.shape[0]
        o, oc = op.output_tensors.shape[1], op.output_tensors.shape[3]
        k, s = op.weights.shape[1], op.stride[1]
        return [
            b,
            o,
            k,
            s,
            op.data.shape[3],
            oc,
            op.data.dtype.bits,
            op.weights.dtype.bits,
            int(op.data.op is None),
        ]
    assert isinstance(op, MatMul), op
    oc, ic = op.weights.shape
    return [op.data.shape[0], 1, 1, 1, ic, oc, op.data.dtype.bits, op.weights.dtype.bits, 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bitfusion", required=True, help="checkout of hsharma35/bitfusion")
    ap.add_argument("--dnnweaver2", required=True, help="checkout of hsharma35/dnnweaver2")
    ap.add_argument("--out", required=True, help="folder for the two CSV files")
    ap.add_argument("--configs", default="", help="comma-separated subset of CONFIGS names")
    ap.add_argument("--networks", default="", help="comma-separated subset of the benchmarks")
    args = ap.parse_args()

    root = os.path.abspath(args.bitfusion)
    out_dir = os.path.abspath(args.out)
    sys.path[:0] = [root, os.path.abspath(args.dnnweaver2)]
    import logging

    logging.disable(logging.INFO)
    # The simulator reads results/systolic_array_synth.csv relative to the working folder.
    os.chdir(root)
    import bitfusion.src.benchmarks.benchmarks as benchmarks
    from bitfusion.src.simulator.simulator import Simulator

    wanted = [c for c in args.configs.split(",") if c]
    nets = [b for b in args.networks.split(",") if b] or list(benchmarks.benchlist)
    configs = [c for c in CONFIGS if not wanted or c[0] in wanted]
    tmp = tempfile.mkdtemp(prefix="bitfusion_ref_")
    layer_path = os.path.join(out_dir, "bitfusion_ref_layers.csv")
    config_path = os.path.join(out_dir, "bitfusion_ref_configs.csv")
    header = (
        "# Generated by benchmarks/bitfusion_ref/generate.py from the public Bit Fusion "
        "simulator (github hsharma35/bitfusion, commit {}); energies in nJ, areas in mm^2.\n"
    )
    commit = os.popen("git -C '{}' rev-parse HEAD".format(root)).read().strip() or "unknown"
    with open(layer_path, "w") as lf, open(config_path, "w") as cf:
        lf.write(header.format(commit))
        cf.write(header.format(commit))
        lw = csv.writer(lf, lineterminator="\n")
        cw = csv.writer(cf, lineterminator="\n")
        lw.writerow(LAYER_FIELDS)
        cw.writerow(CONFIG_FIELDS)
        for name, n, m, wbuf, ibuf, obuf, bw in configs:
            conf = os.path.join(tmp, name + ".ini")
            with open(conf, "w") as f:
                f.write(CONF_TEMPLATE.format(n=n, m=m, wbuf=wbuf, ibuf=ibuf, obuf=obuf, bw=bw))
            sim = Simulator(conf, verbose=False)
            cost = sim.get_energy_cost()
            area = sim.get_area()
            leak = leakage(sim, os.path.join(root, "results", "systolic_array_synth.csv"))
            cw.writerow(
                [name, n, m, 8, 2, wbuf, ibuf, obuf, bw]
                + [repr(float(x)) for x in cost]
                + [repr(float(x)) for x in area]
                + [repr(leak[k]) for k in CONFIG_FIELDS[-4:]]
            )
            cf.flush()
            for bench in nets:
                t0 = time.time()
                nn = benchmarks.get_bench_nn(bench, WRPN=True)
                stats = benchmarks.get_bench_numbers(nn, sim, 1)
                for layer in sorted(stats):
                    s = stats[layer]
                    core, sram, _, dram = s.get_energy_breakdown(cost)
                    total = s.get_energy(cost)
                    lw.writerow(
                        [name, bench, layer]
                        + layer_shape(nn.op_registry[layer])
                        + [s.total_cycles, s.mem_stall_cycles]
                        + [s.reads["wgt"], s.writes["wgt"], s.reads["act"], s.writes["act"]]
                        + [s.reads["out"], s.writes["out"], s.reads["dram"], s.writes["dram"]]
                        + [repr(float(core)), repr(float(sram)), repr(float(dram))]
                        + [repr(float(total))]
                    )
                lf.flush()
                print(
                    "{} {}: {} layers, {:.1f} s".format(name, bench, len(stats), time.time() - t0)
                )


if __name__ == "__main__":
    main()
