"""A plain-Python transcription of the public Bit Fusion simulator's per-layer search, written
from docs/models.md (section 3) independently of the Numba kernel, plus the reference's
benchmark layers.

The transcription walks all 120 loop orders and every tiling with dictionaries, exactly the way
the reference does; it is slow (the point of the Numba kernel) and serves as the oracle for the
kernel's tests and the baseline of ``benchmarks/bench_bitfusion.py``. Its own test
(``tests/hwsim/hardware/test_bitfusion_pyref.py``) checks it against the reference's published
per-layer numbers.
"""

from __future__ import annotations

import csv
import itertools

from hwsim.reference import TESTS_DATA

DATA = TESTS_DATA / "bitfusion_reference_sweep.csv"

LOOPS = ("B", "OW", "OH", "IC", "OC")
DEPENDS = {  # which tensors each tiled loop indexes
    "B": {"act", "out"},
    "OW": {"act", "out"},
    "OH": {"act", "out"},
    "IC": {"act", "wgt"},
    "OC": {"wgt", "out"},
}
BF_E = {  # bf_e_conf.ini and its energy table (pJ)
    "N": 16,
    "M": 32,
    "pmax": 8,
    "pmin": 2,
    "sram": {"wgt": 65536, "act": 32768, "out": 16384},
    "bw": 192,
    "core": 235.104,
    "rd": {
        "wgt": 0.000683701 / 32 * 1e3,
        "act": 0.00190318 / 32 * 1e3,
        "out": 0.00106097 / 32 * 1e3,
    },
    "wr": {
        "wgt": 0.000925317 / 32 * 1e3,
        "act": 0.00363853 / 32 * 1e3,
        "out": 0.00233869 / 32 * 1e3,
    },
    "dram": 15.0,
}


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def perf_factor(acc: dict, a: int, w: int) -> int:
    return (acc["pmax"] // max(a, acc["pmin"])) * (acc["pmax"] // max(w, acc["pmin"]))


def tile_stats(acc: dict, layer: dict, tiling: dict, order: tuple) -> dict | None:
    """Cycles and bit counts of one tiling under one loop order (None if it overflows)."""
    K, S, a, w, im2col = layer["K"], layer["S"], layer["a"], layer["w"], layer["im2col"]
    N, M = acc["N"], acc["M"]
    npf = N * perf_factor(acc, a, w)
    b, ow, ic, oc = (tiling[k][1] for k in ("B", "OW", "IC", "OC"))
    oh = tiling["OH"][1]
    size = {
        "wgt": cdiv(K * K * ic, npf) * npf * oc * w,
        "act": (
            ow * oh * K * K * ic * b * a
            if im2col
            else (K + (ow - 1) * S) * (K + (oh - 1) * S) * ic * b * a
        ),
        "out": ow * oh * cdiv(oc, M) * M * b * 32,
    }
    half = {t: acc["sram"][t] * 8 // 2 for t in size}
    if any(size[t] > half[t] for t in size):
        return None
    fill = dict(size)  # DRAM -> buffer traffic per tensor
    drain = size["out"]  # buffer -> DRAM (partial sums out)
    last_fit = dict(size)
    drain_fit = size["out"]
    growing = {t: True for t in size}
    drain_growing = True
    for loop in reversed(order):
        n = tiling[loop][0]
        for t in fill:
            if growing[t] and t in DEPENDS[loop]:
                fill[t] *= n
                if fill[t] > half[t]:
                    growing[t] = False
                else:
                    last_fit[t] = fill[t]
            elif not growing[t]:
                fill[t] *= n
        if drain_growing and "out" in DEPENDS[loop]:
            drain *= n
            if drain > half["out"]:
                drain_growing = False
            else:
                drain_fit = fill["out"]
        elif not drain_growing:
            drain *= n
    reads = {"wgt": 0, "act": 0, "out": drain, "dram": sum(fill.values())}
    writes = {"wgt": fill["wgt"], "act": fill["act"], "out": fill["out"], "dram": drain}

    is_loop = cdiv(oc, M) * M
    os_loop = cdiv(ic * K * K, npf) * npf if im2col else cdiv(ic, npf) * npf * K * K
    ws_loop = b * oh * ow
    proxy_is = os_loop * ws_loop * (a + is_loop * (w + 32))
    proxy_os = is_loop * ws_loop * (32 + os_loop * (a + w))
    proxy_ws = os_loop * is_loop * (w + ws_loop * (a + 32))
    best = min(proxy_is, proxy_ws, proxy_os)
    tiles = 1
    for loop in LOOPS:
        tiles *= tiling[loop][0]
    if proxy_is == best:
        per = K * K * ic * oh * ow * b
        reads["act"] += tiles * per * a
        reads["out"] += tiles * per * oc * 32
        writes["out"] += tiles * per * oc * 32
        reads["wgt"] += tiles * per * oc * w
    elif proxy_os == best:
        per = oc * oh * ow * b
        reads["act"] += tiles * per * K * K * ic * a
        reads["out"] += tiles * per * 32
        writes["out"] += tiles * per * 32
        reads["wgt"] += tiles * per * K * K * ic * w
    else:
        per = K * K * ic * oc
        reads["act"] += tiles * per * b * ow * oh * a
        reads["out"] += tiles * per * b * ow * oh * 32
        writes["out"] += tiles * per * b * ow * oh * 32
        reads["wgt"] += tiles * per * w
    init = sum(last_fit.values())
    latency = cdiv(init, acc["bw"]) + cdiv(drain_fit, acc["bw"])
    middle = reads["dram"] + writes["dram"] - init - drain_fit
    if im2col:
        per_tile = b * oh * ow * cdiv(oc, M) * cdiv(K * K * ic, npf)
    else:
        per_tile = b * cdiv(oc, M) * ow * oh * K * K * cdiv(ic, npf)
    compute = tiles * per_tile
    stall = max(0, cdiv(middle, acc["bw"]) - compute) + latency
    return {"cycles": compute + stall, "stall": stall, "reads": reads, "writes": writes}


def energy_pj(acc: dict, st: dict) -> float:
    e = (st["cycles"] - st["stall"]) * acc["core"]
    for t in ("wgt", "act", "out"):
        e += st["reads"][t] * acc["rd"][t]
        e += st["writes"][t] * acc["wr"][t]
    e += st["reads"]["dram"] * acc["dram"]
    e += st["writes"]["dram"] * acc["dram"]
    return e


def log2_options(n: int) -> int:
    return (n - 1).bit_length() + 1


def search(acc: dict, layer: dict) -> dict:
    """The reference's exhaustive search: per order the best tiling, then the best order."""
    B, O, IC, OC, M = layer["B"], layer["O"], layer["IC"], layer["OC"], acc["M"]
    best = None
    for order in itertools.permutations(LOOPS):
        for ib in range(log2_options(B)):
            b = min(1 << ib, B)
            for io in range(log2_options(O)):
                o = min(1 << io, O)
                for iic in range(log2_options(IC)):
                    ic = min(1 << iic, IC)
                    n_oc = log2_options(OC) if layer["im2col"] else log2_options(cdiv(OC, M))
                    for ioc in range(n_oc):
                        oc = min(1 << ioc, OC) if layer["im2col"] else min((1 << ioc) * M, OC)
                        tiling = {
                            "B": (cdiv(B, b), b),
                            "OW": (cdiv(O, o), o),
                            "OH": (cdiv(O, o), o),
                            "IC": (cdiv(IC, ic), ic),
                            "OC": (cdiv(OC, oc), oc),
                        }
                        st = tile_stats(acc, layer, tiling, order)
                        if st is None:
                            continue
                        e = energy_pj(acc, st)
                        if best is None or (st["cycles"], e) < (best["cycles"], best["energy"]):
                            best = {**st, "energy": e}
    assert best is not None, "no tiling fits"
    return best


def conv(name, IC, OC, K, O, S=1, a=8, w=8, first=False, B=16):
    return name, {
        "B": B,
        "O": O,
        "K": K,
        "S": S,
        "IC": IC,
        "OC": OC,
        "a": a,
        "w": w,
        "im2col": first,
    }


def fc(name, IC, OC, a, w, B=16):
    return conv(name, IC, OC, 1, 1, 1, a, w, False, B)


def _alexnet_wrpn():
    out = []
    for t in "ab":
        out += [
            conv(f"conv1_{t}", 3, 96, 11, 55, 4, 8, 8, True),
            conv(f"conv2_{t}", 96, 256, 5, 27, 1, 4, 4),
            conv(f"conv3_{t}", 512, 384, 3, 13, 1, 4, 4),
            conv(f"conv4_{t}", 384, 384, 3, 13, 1, 4, 4),
            conv(f"conv5_{t}", 384, 256, 3, 13, 1, 4, 4),
        ]
    return [
        *out,
        fc("fc1", 18432, 8192, 4, 4),
        fc("fc2", 8192, 8192, 4, 4),
        fc("fc3", 8192, 1000, 8, 8),
    ]


def _resnet18_wrpn():
    out = [conv("conv1_a", 3, 128, 7, 112, 2, 8, 8, True)]
    c_in, size = 128, 56
    for stage, width in zip((2, 3, 4, 5), (128, 256, 512, 1024), strict=True):
        for i in (1, 2):
            stride = 2 if (stage > 2 and i == 1) else 1
            size = size // stride
            out += [
                conv(f"module{stage}/conv{stage}_{i}_a", c_in, width, 1, size, stride, 4, 4),
                conv(f"module{stage}/conv{stage}_{i}_b", width, width, 3, size, 1, 4, 4),
            ]
            c_in = width
    return out


REFERENCE_LAYERS: dict[str, dict[str, dict]] = {
    "AlexNet": dict(_alexnet_wrpn()),
    "SVHN": dict(
        [
            conv("conv0", 3, 64, 3, 32, 1, 8, 1, True),
            conv("conv1", 64, 64, 3, 32, 1, 1, 1),
            conv("conv2", 64, 128, 3, 16, 1, 1, 1),
            conv("conv3", 128, 128, 3, 16, 1, 1, 1),
            conv("conv4", 128, 256, 3, 8, 1, 1, 1),
            conv("conv5", 256, 256, 3, 8, 1, 1, 1),
            fc("fc6", 4096, 1024, 1, 1),
            fc("fc7", 1024, 1024, 1, 1),
            fc("fc8", 1024, 10, 1, 1),
        ]
    ),
    "CIFAR10": dict(
        [
            conv("conv0", 3, 128, 3, 32, 1, 8, 8, True),
            conv("conv1", 128, 128, 3, 32, 1, 2, 2),
            conv("conv2", 128, 256, 3, 16, 1, 2, 2),
            conv("conv3", 256, 256, 3, 16, 1, 2, 2),
            conv("conv4", 256, 512, 3, 8, 1, 2, 2),
            conv("conv5", 512, 512, 3, 8, 1, 2, 2),
            fc("fc6", 8192, 1024, 2, 2),
            fc("fc7", 1024, 1024, 2, 2),
            fc("fc8", 1024, 10, 2, 2),
        ]
    ),
    "LeNet-5": dict(
        [
            conv("conv0", 1, 32, 5, 32, 1, 2, 2, True),
            conv("conv1", 32, 64, 5, 16, 1, 2, 2),
            fc("fc1", 4096, 512, 2, 2),
            fc("fc2", 512, 10, 2, 2),
        ]
    ),
    "VGG-7": dict(
        [
            conv("conv1_a", 3, 128, 3, 32, 1, 2, 2, True),
            conv("conv1_b", 3, 128, 3, 32, 1, 2, 2, True),
            conv("conv2_a", 128, 256, 3, 16, 1, 2, 2),
            conv("conv2_b", 128, 256, 3, 16, 1, 2, 2),
            conv("conv3_a", 256, 512, 3, 8, 1, 2, 2),
            conv("conv3_b", 256, 512, 3, 8, 1, 2, 2),
            fc("fc1", 8192, 1024, 2, 2),
        ]
    ),
    "RESNET-18": dict(_resnet18_wrpn()),
    "RNN": dict([fc("matmul", 4096, 4096, 4, 4)]),
    "LSTM": dict([fc("matmul", 3600, 3600, 4, 4)]),
}
"""The reference's benchmark layers as its sweep ran them (WRPN AlexNet and ResNet-18),
with the shapes and (a, w) precisions its graphs produce."""


def reference_rows() -> list[dict]:
    """The reference simulator's published per-layer numbers for ``bf_e_conf.ini``."""
    with DATA.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [{k: (v if k in ("network", "layer") else int(v)) for k, v in r.items()} for r in rows]


def reference_energy_pj(row: dict) -> float:
    """The simulator's energy of one published row (its ``get_energy`` formula)."""
    st = {
        "cycles": row["cycles"],
        "stall": row["stall_cycles"],
        "reads": {
            "wgt": row["wbuf_read"],
            "act": row["ibuf_read"],
            "out": row["obuf_read"],
            "dram": row["dram_read"],
        },
        "writes": {
            "wgt": row["wbuf_write"],
            "act": row["ibuf_write"],
            "out": row["obuf_write"],
            "dram": row["dram_write"],
        },
    }
    return energy_pj(BF_E, st)
