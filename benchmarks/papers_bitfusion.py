"""Bit Fusion against its baselines on its eight benchmark networks, beside the paper's claims.

1. **Eyeriss** (the paper's Fig. 13 setting, 45 nm, 500 MHz, batch 16): Bit Fusion from hwsim's
   exact ``bitfusion`` preset (``bf_e_conf.ini``) on the zoo's ``bitfusion_*`` networks at their
   published bits; Eyeriss from the per-layer results the public repository ships
   (``results/eyeriss_results.csv``, summed per network, pooling layers included), costed the
   way its notebook does: time from cycles at the same clock, energy = (ALU + 0.15 DRAM + buffer
   + array + RF) x 16 x 0.2 pJ. Paper: 3.9x speed, 5.1x energy.
2. **Stripes** (paper: 2.6x speed, 3.9x energy, against ``bf_s_conf.ini``): the public repository
   has no Stripes numbers, so this uses hwsim's own analytic ``stripes`` preset (and the
   bit-parallel ``dadiannao``) against Bit Fusion at ``bf_s_conf.ini``'s array, buffers (128 KB
   each), 4096-bit DRAM interface and 980 MHz. Bit Fusion's energies at those sizes are
   derived as the simulator derives them: the synthesis row scaled with the array, and each
   buffer's CACTI bank row (the 256-byte WBUF bank is beyond the authors' eight cached rows and
   comes from the same CACTI run with their settings); the two sides use different energy
   tables, so the energy ratio is indicative only.

    python benchmarks/papers_bitfusion.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from hwsim import BitPolicy
from hwsim.hardware import load_hardware, simulate
from hwsim.hardware.pricing import area
from hwsim.io import atomic_write_text
from hwsim.markdown import markdown_table
from models import build, extract_workload
from models.bitfusion_nets import BENCHMARKS
from models.zoo import entry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "papers_bitfusion.md"

# hsharma35/bitfusion results/eyeriss_results.csv summed per benchmark (all rows, as its
# notebook's groupby does): cycles ("time(ms)" column, which the notebook treats as cycles),
# then the ALU, DRAM, Buffer, Array and RF energy columns (units of a 16-bit MAC).
EYERISS = {
    "AlexNet": (70286336, 11608143872, 22968294400, 922167552, 1421881408, 46775287808),
    "SVHN": (11296768, 2530115584, 4453113600, 152467776, 359259712, 10234101760),
    "CIFAR10": (44153856, 9875128320, 13397011200, 439659072, 1229059904, 39953891328),
    "LeNet-5": (1117696, 257245184, 887232000, 34321536, 52917888, 1055391744),
    "VGG-7": (21625856, 5095817216, 9484262400, 360025344, 950759680, 20685258752),
    "RESNET-18": (95485952, 18034458624, 32760460800, 982813824, 1695979136, 72600256512),
    "RNN": (1048576, 268435456, 3394764800, 101842944, 66846720, 1073741824),
    "LSTM": (820800, 207360000, 2638080000, 113356800, 57292800, 840499200),
}
EYERISS_PJ_PER_MAC = 16 * 0.2  # the notebook's eyeriss_energy_per_mac (nJ x 1e3)
EYERISS_DRAM_SCALE = 0.15  # the notebook's "scaling due to technology"
PAPER = {"eyeriss": (3.9, 5.1), "stripes": (2.6, 3.9)}


def geomean(x) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(x, dtype=float)))))


def network_totals(hardware) -> pd.DataFrame:
    rows = []
    for network, name in tqdm(
        BENCHMARKS.items(), desc=str(getattr(hardware, "name", hardware)), disable=None
    ):
        e = entry(name)
        with torch.device("meta"):
            model = build(name)
            x = torch.zeros((e.batch, *e.input_shape))
        wl = extract_workload(model, x, name)
        rep = simulate(wl, BitPolicy(dict(e.default_bits)), hardware)
        rows.append(
            {
                "network": network,
                "cycles": rep.totals["cycles"],
                "latency_s": rep.totals["latency_s"],
                "energy_j": rep.totals["energy_j"],
            }
        )
    return pd.DataFrame(rows).set_index("network")


def eyeriss_table(bf: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for network, (cycles, alu, dram, buf, arr, rf) in EYERISS.items():
        e_j = (alu + EYERISS_DRAM_SCALE * dram + buf + arr + rf) * EYERISS_PJ_PER_MAC * 1e-12
        rows.append(
            {
                "network": network,
                "bitfusion_cycles": int(bf.loc[network, "cycles"]),
                "eyeriss_cycles": cycles,
                "speedup": cycles / bf.loc[network, "cycles"],
                "bitfusion_energy_uJ": bf.loc[network, "energy_j"] * 1e6,
                "eyeriss_energy_uJ": e_j * 1e6,
                "energy_reduction": e_j / bf.loc[network, "energy_j"],
            }
        )
    return pd.DataFrame(rows).set_index("network")


def versus_table(bf: pd.DataFrame, base: pd.DataFrame, label: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bitfusion_ms": bf["latency_s"] * 1e3,
            f"{label}_ms": base["latency_s"] * 1e3,
            "speedup": base["latency_s"] / bf["latency_s"],
            "bitfusion_energy_uJ": bf["energy_j"] * 1e6,
            f"{label}_energy_uJ": base["energy_j"] * 1e6,
            "energy_reduction": base["energy_j"] / bf["energy_j"],
        }
    )


def bf_s_config():
    """Bit Fusion at ``bf_s_conf.ini``: 128 KB buffers, a 4096-bit interface at 980 MHz."""
    return load_hardware("bitfusion").replace(
        name="bitfusion-bf_s",
        wbuf_bytes=131072,
        ibuf_bytes=131072,
        obuf_bytes=131072,
        dram_bytes_per_s=4096 / 8 * 980e6,  # a 4096-bit interface at 980 MHz
        frequency_hz=980e6,
    )


def area_table() -> pd.DataFrame:
    """``hwsim.area`` (mm^2, 45 nm) of both Bit Fusion configurations and the baselines."""
    rows = []
    for hw in (load_hardware("bitfusion"), bf_s_config(), "stripes", "dadiannao"):
        a = area(hw)
        buffers = a.total_mm2 - a.components["compute"]
        rows.append((a.hardware, a.components["compute"], buffers, a.total_mm2))
    return pd.DataFrame(
        rows, columns=["design", "compute_mm2", "buffers_mm2", "total_mm2"]
    ).set_index("design")


def tables() -> dict[str, pd.DataFrame]:
    """Bit Fusion against Eyeriss (bf_e_conf.ini), Stripes and DaDianNao (bf_s_conf.ini sizes),
    one row per benchmark network."""
    bf_e = load_hardware("bitfusion")
    bf_s = bf_s_config()
    eye = eyeriss_table(network_totals(bf_e))
    bf_s_tot = network_totals(bf_s)
    stripes = versus_table(bf_s_tot, network_totals("stripes"), "stripes")
    dadn = versus_table(bf_s_tot, network_totals("dadiannao"), "dadiannao")
    return {"eyeriss": eye, "stripes": stripes, "dadiannao": dadn}


def main() -> None:
    t = tables()
    eye, stripes, dadn = t["eyeriss"], t["stripes"], t["dadiannao"]

    def block(df: pd.DataFrame, paper: tuple[float, float] | None) -> str:
        text = markdown_table([df.index.name or "", *df.columns], df.itertuples()) + "\n\n"
        text += (
            f"Geometric mean: **{geomean(df['speedup']):.2f}x speed**, "
            f"**{geomean(df['energy_reduction']):.2f}x energy**"
        )
        if paper:
            text += f" (paper: {paper[0]}x speed, {paper[1]}x energy)"
        return text + ".\n"

    md = [
        "# Bit Fusion against its baselines (generated by benchmarks/papers_bitfusion.py)\n",
        "Networks: the simulator's benchmark set as its sweep ran it (WRPN AlexNet and "
        "ResNet-18), batch 16, at the published per-layer bits.\n",
        "## vs Eyeriss (bf_e_conf.ini; Eyeriss from the repository's eyeriss_results.csv)\n",
        "Bit Fusion numbers come from hwsim's exact preset, which reproduces the reference "
        "simulator's published per-layer sweep bit for bit (tests/hwsim/hardware/"
        "test_bitfusion.py), so this row is the reference notebook's own computation.\n",
        block(eye, PAPER["eyeriss"]),
        "## vs Stripes (hwsim's analytic stripes preset; Bit Fusion at bf_s_conf.ini sizes)\n",
        "Not the paper's setup: the repository has no Stripes results, hwsim's `stripes` model "
        "(DaDianNao organisation, 980 MHz, Horowitz energies, activations bit-serial, weights "
        "16-bit) is an independent analytic model, while Bit Fusion's per-bit SRAM energies "
        "are the CACTI rows of bf_s_conf.ini's banks (derived as the reference simulator "
        "derives them; its 256-byte weight bank from the same CACTI run with the authors' "
        "settings, as their eight cached rows hold none). Treat the ratios as indicative. "
        "Above all the arrays are not matched: the `stripes` and `dadiannao` presets "
        "are full 16-tile DaDianNao chips (4096 16-bit MAC equivalents, 32 MB eDRAM), against "
        "Bit Fusion's 512 fusion units (512 8x8 MACs) and 384 KB of SRAM, whereas the paper "
        "compares designs of matched area. Per unit of array, Bit Fusion's geometric-mean "
        "speed over `stripes` below times the 8x larger Stripes array is the fairer reading.\n",
        block(stripes, PAPER["stripes"]),
        "## vs DaDianNao-like bit-parallel 16-bit (hwsim `dadiannao`), same caveats\n",
        block(dadn, None),
        "## Area (hwsim.area, mm^2 at 45 nm)\n",
        "Bit Fusion's area is its simulator's `get_area` (synthesis row scaled with the array, "
        "CACTI banks per buffer): 2.14 mm^2 at bf_e_conf.ini, as the authors' notebook prints. "
        "The baselines' is hwsim's own model (benchmarks/results/papers.md, area section); the "
        "gap is the arrays-not-matched caveat above in mm^2.\n",
        markdown_table(
            ["design", "compute mm^2", "buffers mm^2", "total mm^2"],
            [(d, f"{c:.3f}", f"{b:.3f}", f"{t:.3f}") for d, c, b, t in area_table().itertuples()],
        )
        + "\n",
    ]
    from _provenance import provenance_line

    md.append(provenance_line() + "\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
