"""Where binary decomposition pays on this CPU: bit-serial against torch int8 and fp32.

For every ``w, a`` in 1..8 and a few layer shapes (GEMMs and convolutions, at batch 1 and at a
large M), it times in the same run:

- **bit-serial** (``hwsim.kernels``): weights packed once; each call takes uint8 / int8
  activation codes and packs them on first use (``bitserial_linear``; ``BitserialConv2d``
  for convolutions, channels-last codes);
- **torch int8**: ``torch._int_mm`` (GEMM) and ``torch.ao.nn.quantized.Conv2d`` (conv, quint8
  in and out), the x86 oneDNN / fbgemm kernels;
- **torch fp32**: ``torch.matmul`` and ``conv2d`` (channels-last).

Each contender is timed in its own block after an idle gap (torch's and Numba's OpenMP workers
spin after a parallel region), best of ``--repeats``. Every bit-serial result is checked exact
against integer math once per shape and width pair.

It then runs the **exported integer ResNet-18** (224x224, batch 1; ``quant.integer_model`` of a
uniformly quantized torchvision-style ResNet-18, every conv and the FC on ``hwsim.kernels``,
the glue in the model's float32, the rescale in float64) at w{b}a{b} for b in 2..8 against the
torch fp32 ResNet-18 in the same run, timed channels-last (torch's faster layout on this CPU:
the speedups are against it) with the same network in NCHW beside it.

It also times the **+-1 kernels** (w1a1 with +-1 activations and weights, XOR + popcount,
beside {0, 1} codes, AND + popcount, on every layer shape) and the **W x A8 GEMV** (8-bit
signed activations, +-1 / 2 / 3 / 4-bit weights: the VNNI kernel, the table-lookup kernel and
the binary decomposition each forced, against torch's best int8 path, the faster of
``_int_mm`` and the dynamically quantized ``Linear``), and where the weight-stream kernels
overtake the binary decomposition by rows and activation bits, to
``crossover_encodings.csv``.

Writes ``benchmarks/results/crossover.csv``, ``crossover_resnet18.csv``,
``crossover_encodings.csv`` and a summary ``crossover.md``. Run:
``python benchmarks/bench_crossover.py [--quick] [--threads 2]`` (``--encodings-only`` re-times
only the +-1 and W x A8 parts and keeps the other tables of the run before).
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import torch
from _provenance import git_commit, stamp
from tqdm import tqdm

from hwsim.io import atomic_write_text
from hwsim.kernels import BitserialConv2d, bitserial_linear, pack_operand
from hwsim.kernels.popcount import popcount_throughput_kernel
from hwsim.policy import bits_label
from hwsim.timing import best_time, set_clock
from sweeps.baselines import ConvShape, conv_call, gemm_call

RESULTS = Path(__file__).parent / "results"
IDLE_GAP_S = 0.2
GEMV_ROUNDS = 4
"""Blocks of calls per contender in the GEMV and weight-stream parts (sub-millisecond calls)."""
GEMV_KERNELS = ("vnni", "lut", "bitserial")
"""The GEMV's kernels, each forced: the two weight-stream kernels, the binary decomposition."""

GEMMS = {  # name: (M, N, K)
    "gemv 1x1024x1024 (batch 1)": (1, 1024, 1024),
    "gemv 1x4096x4096 (batch 1)": (1, 4096, 4096),
    "gemm 1024^3 (large M)": (1024, 1024, 1024),
}
GEMV_A8 = {  # name: (M, N, K) of the W x A8 GEMVs
    "gemv 1x1024x1024 (batch 1)": (1, 1024, 1024),
    "gemv 1x4096x4096 (batch 1)": (1, 4096, 4096),
    # An LLM MLP projection: its 45 MB of int8 weights outgrow the 32 MB L3, the 4096^2 layer's
    # 16 MB do not (torch's int8 GEMV then runs from L3).
    "gemv 1x11008x4096 (batch 1, LLM MLP)": (1, 11008, 4096),
}
CONVS = {  # name: ConvShape(n, c, hw, o, k, stride)
    "conv 64@56 3x3 (batch 1)": ConvShape(1, 64, 56, 64, 3),
    "conv 256@14 3x3 (batch 1)": ConvShape(1, 256, 14, 256, 3),
    "conv 128@28 3x3 (batch 4)": ConvShape(4, 128, 28, 128, 3),
}


def best_of(fn: Callable[[], object], repeats: int, rounds: int = 1) -> float:
    """Best time of ``fn`` over ``rounds`` blocks of ``repeats`` calls, each after an idle gap
    (see the docstring) and a warm-up call. Several blocks for the sub-millisecond GEMVs: a
    burst of this VM's neighbours can slow one whole block (bench_kernels.py)."""
    best = float("inf")
    for _ in range(rounds):
        time.sleep(IDLE_GAP_S)
        best = min(best, best_time(fn, repeats))
    return best


def popcount_peak_words(repeats: int) -> float:
    words = np.random.default_rng(0).integers(0, 2**63, 2048, dtype=np.uint64)
    chunks, passes = 4 * numba.get_num_threads(), 1000
    t = best_of(lambda: popcount_throughput_kernel(words, chunks, passes), repeats)
    return words.size * chunks * passes / t


def _codes(rng, shape, bits, signed):
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    return rng.integers(lo, hi, shape)


def bitserial_gemm_call(m, n, k, w_bits, a_bits, rng) -> Callable[[], np.ndarray]:
    w = _codes(rng, (n, k), w_bits, w_bits > 1)
    a = _codes(rng, (m, k), a_bits, False)
    packed = pack_operand(w, w_bits, signed=w_bits > 1)
    a8 = a.astype(np.uint8)
    # float64 BLAS is exact here (|sums| < 2^53) and far faster than numpy's int64 matmul.
    exact = (torch.from_numpy(a).double() @ torch.from_numpy(w).double().T).numpy()
    if not np.array_equal(bitserial_linear(a8, packed, a_bits), exact):
        raise AssertionError(f"bit-serial GEMM {m}x{n}x{k} w{w_bits}a{a_bits} is not exact")
    return lambda: bitserial_linear(a8, packed, a_bits)


def bitserial_conv_call(shape: ConvShape, w_bits, a_bits, rng, check: bool):
    w = _codes(rng, (shape.o, shape.c, shape.k, shape.k), w_bits, w_bits > 1)
    x = _codes(rng, (shape.n, shape.c, shape.hw, shape.hw), a_bits, False)
    layer = BitserialConv2d(
        w, w_bits, a_bits, stride=shape.stride, padding=shape.k // 2, w_signed=w_bits > 1
    )
    x8 = np.ascontiguousarray(x.astype(np.uint8).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    if check:
        want = torch.nn.functional.conv2d(
            torch.from_numpy(x).double(),
            torch.from_numpy(w).double(),
            stride=shape.stride,
            padding=shape.k // 2,
        ).numpy()
        if not np.array_equal(layer(x8), want):
            raise AssertionError(f"bit-serial conv {shape} w{w_bits}a{a_bits} is not exact")
    return lambda: layer(x8)


def timed_shapes(repeats: int, desc: str):
    """Every layer shape (the GEMMs, then the convs) with its GEMM extents and torch's int8
    and fp32 times on it: ``(name, op, shape, (M, N, K), {"int8": s, "fp32": s})``."""
    cases = [(name, "gemm", s) for name, s in GEMMS.items()]
    cases += [(name, "conv", s) for name, s in CONVS.items()]
    for name, op, shape in tqdm(cases, desc=desc, disable=None):
        if op == "gemm":
            mnk = shape
            calls = {impl: gemm_call(*shape, impl) for impl in ("int8", "fp32")}
        else:
            mnk = shape.gemm()
            calls = {impl: conv_call(shape, impl) for impl in ("int8", "fp32")}
        yield name, op, shape, mnk, {impl: best_of(c, repeats) for impl, c in calls.items()}


def run_layers(bit_pairs, repeats: int, peak_words: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for name, op, shape, (m, n, k), base in timed_shapes(repeats, "crossover"):
        for w_bits, a_bits in bit_pairs:
            if op == "gemm":
                fn = bitserial_gemm_call(m, n, k, w_bits, a_bits, rng)
            else:
                # Exactness against torch float64 once per shape at each width (the largest
                # conv's float64 reference is slow).
                fn = bitserial_conv_call(shape, w_bits, a_bits, rng, check=w_bits == a_bits)
            t = best_of(fn, repeats)
            words = m * n * -(-k // 64) * w_bits * a_bits
            rows.append(
                {
                    "shape": name,
                    "op": op,
                    "M": m,
                    "N": n,
                    "K": k,
                    "w_bits": w_bits,
                    "a_bits": a_bits,
                    "bitserial_ms": t * 1e3,
                    "torch_int8_ms": base["int8"] * 1e3,
                    "torch_fp32_ms": base["fp32"] * 1e3,
                    "speedup_vs_int8": base["int8"] / t,
                    "speedup_vs_fp32": base["fp32"] / t,
                    "fraction_of_popcount_peak": words / t / peak_words,
                }
            )
    return pd.DataFrame(rows)


def run_encodings(repeats: int) -> pd.DataFrame:
    """+-1 vs {0, 1} w1a1 on every layer shape, and the W x A8 GEMVs by the weight-stream
    kernels and by binary decomposition, each checked exact once, against torch int8 / fp32."""
    from hwsim.kernels import lut_weights, vnni_weights

    rng = np.random.default_rng(1)
    rows = []
    for name, op, shape, (m, n, k), base in timed_shapes(repeats, "+-1 kernels"):
        for enc in ("bipolar", "unsigned"):
            if op == "gemm":
                a = (
                    rng.choice(np.array([-1, 1]), (m, k))
                    if enc == "bipolar"
                    else rng.integers(0, 2, (m, k))
                )
                w = (
                    rng.choice(np.array([-1, 1]), (n, k))
                    if enc == "bipolar"
                    else rng.integers(0, 2, (n, k))
                )
                packed = pack_operand(w, 1, encoding=enc)
                a8 = a.astype(np.int8 if enc == "bipolar" else np.uint8)
                exact = (torch.from_numpy(a) @ torch.from_numpy(w).T).numpy()
                if not np.array_equal(bitserial_linear(a8, packed, 1, a_encoding=enc), exact):
                    raise AssertionError(f"{name} w1a1 {enc} is not exact")
                fn = partial(bitserial_linear, a8, packed, 1, a_encoding=enc)
            else:
                w = rng.choice(np.array([-1, 1]), (shape.o, shape.c, shape.k, shape.k))
                x = rng.choice(np.array([-1, 1]), (shape.n, shape.c, shape.hw, shape.hw))
                if enc == "unsigned":
                    w, x = (w > 0).astype(np.int64), (x > 0).astype(np.int64)
                layer = BitserialConv2d(w, 1, 1, stride=shape.stride, padding=shape.k // 2,
                                        a_encoding=enc, w_encoding=enc)  # fmt: skip
                x8 = x.astype(np.int8 if enc == "bipolar" else np.uint8)
                x8 = np.ascontiguousarray(x8.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
                want = torch.nn.functional.conv2d(
                    torch.from_numpy(x).double(),
                    torch.from_numpy(w).double(),
                    stride=shape.stride,
                    padding=shape.k // 2,
                )
                if not np.array_equal(layer(x8), want.numpy()):
                    raise AssertionError(f"{name} w1a1 {enc} conv is not exact")
                fn = partial(layer, x8)
            t = best_of(fn, repeats)
            rows.append({"part": "w1a1", "shape": name, "op": op, "M": m, "N": n, "K": k,
                         "w_bits": 1, "a_bits": 1, "encoding": enc, "kernel": "bitserial",
                         "ms": t * 1e3, "torch_int8_ms": base["int8"] * 1e3,
                         "torch_fp32_ms": base["fp32"] * 1e3,
                         "speedup_vs_int8": base["int8"] / t,
                         "speedup_vs_fp32": base["fp32"] / t})  # fmt: skip
    for name, (m, n, k) in GEMV_A8.items():
        a = rng.integers(-128, 128, (m, k))
        a8 = a.astype(np.int8)
        lin = torch.nn.Linear(k, n, bias=False)
        with torch.no_grad():
            dyn = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8
            )
            x_f = torch.from_numpy(a.astype(np.float32))
            t_dyn = best_of(lambda dyn=dyn, x_f=x_f: dyn(x_f), repeats, GEMV_ROUNDS)
        t_int8 = min(t_dyn, best_of(gemm_call(m, n, k, "int8"), repeats, GEMV_ROUNDS))
        for w_bits in (1, 2, 3, 4):
            enc = "bipolar" if w_bits == 1 else "signed"
            if enc == "bipolar":
                w = rng.choice(np.array([-1, 1]), (n, k))
            else:
                w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), (n, k))
            packed = pack_operand(w, w_bits, encoding=enc)
            lut_weights(packed)
            vnni_weights(packed)
            exact = (torch.from_numpy(a) @ torch.from_numpy(w).T).numpy()
            for kernel in GEMV_KERNELS:
                call = partial(bitserial_linear, a8, packed, 8, a_signed=True, kernel=kernel)
                if not np.array_equal(call(), exact):
                    label = bits_label(w_bits, 8)
                    raise AssertionError(f"{name} {label} ({kernel}) is not exact")
                t = best_of(call, repeats, GEMV_ROUNDS)
                rows.append({"part": "gemv_a8", "shape": name, "op": "gemm", "M": m, "N": n,
                             "K": k, "w_bits": w_bits, "a_bits": 8, "encoding": enc,
                             "kernel": kernel, "ms": t * 1e3, "torch_int8_ms": t_int8 * 1e3,
                             "torch_fp32_ms": float("nan"), "speedup_vs_int8": t_int8 / t,
                             "speedup_vs_fp32": float("nan")})  # fmt: skip
    # Where the weight-stream kernels overtake the binary decomposition: activation widths x
    # rows.
    n = k = 4096
    for m in (1, 8, 16):
        for w_bits in (1, 2, 4):
            w = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), (n, k)) if w_bits > 1 else (
                rng.integers(0, 2, (n, k)))  # fmt: skip
            packed = pack_operand(w, w_bits, signed=w_bits > 1)
            lut_weights(packed)
            vnni_weights(packed)
            for a_bits in (2, 3, 4, 5, 6, 8):
                a = rng.integers(0, 1 << a_bits, (m, k)).astype(np.uint8)
                t = {}
                for kernel in GEMV_KERNELS:
                    call = partial(bitserial_linear, a, packed, a_bits, kernel=kernel)
                    t[kernel] = best_of(call, repeats, GEMV_ROUNDS)
                for kernel in ("vnni", "lut"):
                    rows.append({"part": "stream_crossover", "shape": f"{m}x{n}x{k}",
                                 "op": "gemm", "M": m, "N": n, "K": k, "w_bits": w_bits,
                                 "a_bits": a_bits,
                                 "encoding": "signed" if w_bits > 1 else "unsigned",
                                 "kernel": kernel, "ms": t[kernel] * 1e3,
                                 "bitserial_ms": t["bitserial"] * 1e3,
                                 "bitserial_over_kernel": t["bitserial"] / t[kernel]})  # fmt: skip
    return pd.DataFrame(rows)


def encodings_summary(enc: pd.DataFrame) -> str:
    """The crossover.md sections of :func:`run_encodings`."""
    if not len(enc):
        return ""
    out = ["", "## +-1 kernels: w1a1, +-1 (XOR + popcount) beside {0, 1} (AND + popcount)", "",
           "| shape | +-1 (ms) | {0,1} (ms) | torch int8 (ms) | torch fp32 (ms) | +-1 vs int8 | "
           "+-1 vs fp32 |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    w1 = enc[enc["part"] == "w1a1"]
    for name, df in w1.groupby("shape", sort=False):
        b = df[df["encoding"] == "bipolar"].iloc[0]
        u = df[df["encoding"] == "unsigned"].iloc[0]
        out.append(f"| {name} | {b['ms']:.3g} | {u['ms']:.3g} | {b['torch_int8_ms']:.3g} | "
                   f"{b['torch_fp32_ms']:.3g} | {b['speedup_vs_int8']:.2f} | "
                   f"{b['speedup_vs_fp32']:.2f} |")  # fmt: skip
    gv = enc[enc["part"] == "gemv_a8"]
    if len(gv):
        out += ["", "## W x A8 GEMV: VNNI, table lookup and binary decomposition (8-bit signed "
                "activations; weights +-1 at 1 bit, signed above)", "",
                "Cells: speedup over torch's best int8 path (the faster of `_int_mm` and the "
                "dynamically quantized `Linear`).", "",
                "| shape | w bits | VNNI | table lookup | binary decomposition | torch int8 (ms) |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for (name, w_bits), df in gv.groupby(["shape", "w_bits"], sort=False):
            by = {kernel: df[df["kernel"] == kernel].iloc[0] for kernel in GEMV_KERNELS}
            cells = " | ".join(f"{by[kernel]['speedup_vs_int8']:.2f}" for kernel in GEMV_KERNELS)
            out.append(f"| {name} | {w_bits} | {cells} | {by['lut']['torch_int8_ms']:.3g} |")
    lc = enc[enc["part"] == "stream_crossover"]
    if len(lc):
        widths = sorted(lc["a_bits"].unique())
        out += ["", "## Weight-stream kernels vs binary decomposition by rows and activation "
                "bits (N = K = 4096)", "",
                "Cells: the binary decomposition's time over the VNNI kernel's / the table "
                "kernel's (``>1``: that kernel wins); `bitserial_linear` takes the VNNI kernel "
                "where `w * a >= 6` at one row and `>= 8` up to 16 rows.", "",
                "| M | w bits | " + " | ".join(f"a{a}" for a in widths) + " |",
                "|---|---|" + "---|" * len(widths)]  # fmt: skip
        for (m, w_bits), df in lc.groupby(["M", "w_bits"], sort=False):
            by = {
                kernel: df[df["kernel"] == kernel].sort_values("a_bits")["bitserial_over_kernel"]
                for kernel in ("vnni", "lut")
            }
            cells = " | ".join(
                f"{v:.2f} / {u:.2f}" for v, u in zip(by["vnni"], by["lut"], strict=True)
            )
            out.append(f"| {m} | {w_bits} | {cells} |")
    return "\n".join(out) + "\n"


def run_resnet18(widths, repeats: int, rounds: int = 3) -> pd.DataFrame:
    """The exported integer ResNet-18 at each width against torch fp32, channels-last (the
    speedup's baseline) and NCHW (``torch_fp32_nchw_ms``). Each round builds every
    width's integer model afresh and times the widths in turn: one width's time moved by 30 %
    between two builds in one quiet run (cause not pinned down), so a single build can make
    one width look slower than the next. The row keeps the best round and the worst. At least
    10 calls per contender and round: with 5, a round's best still moved by 10 % between runs
    on this VM."""
    from models import build
    from quant import quantize_model
    from quant.export import integer_model
    from quant.model import quantizable_layers

    torch.manual_seed(0)
    net = build("resnet18").eval()
    x = torch.randn(1, 3, 224, 224)
    calib = torch.randn(2, 3, 224, 224)
    # The same weights in channels-last: torch's layout of choice for CPU convolutions.
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    times: dict[int, list[float]] = {b: [] for b in widths}
    fp32: list[float] = []
    fp32_nchw: list[float] = []
    for _ in tqdm(range(rounds), desc="resnet18 rounds", disable=None):
        with torch.no_grad():
            fp32.append(best_of(lambda: net_cl(x_cl), repeats))
            fp32_nchw.append(best_of(lambda: net(x), repeats))
        for b in widths:
            bits = {name: (b, b) for name in quantizable_layers(net)}
            im = integer_model(quantize_model(net, bits, calibration=calib))
            times[b].append(best_of(lambda im=im: im(x), repeats))
            del im
    t_fp32 = min(fp32)
    t_nchw = min(fp32_nchw)
    return pd.DataFrame(
        {
            "network": "resnet18 224x224 batch 1",
            "w_bits": b,
            "a_bits": b,
            "integer_bitserial_ms": min(ts) * 1e3,
            "worst_round_ms": max(ts) * 1e3,
            "rounds": rounds,
            "torch_fp32_ms": t_fp32 * 1e3,
            "torch_fp32_nchw_ms": t_nchw * 1e3,
            "speedup_vs_fp32": t_fp32 / min(ts),
            "speedup_vs_fp32_nchw": t_nchw / min(ts),
        }
        for b, ts in times.items()
    )


def write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.4g")
    atomic_write_text(path, buf.getvalue())


def summary(layers: pd.DataFrame, nets: pd.DataFrame, header: str) -> str:
    out = [
        "# Bit-serial vs torch int8 / fp32 on this CPU",
        "",
        header,
        "",
        "Cells: speedup of the bit-serial kernel over torch int8 (``>1``: bit-serial wins), "
        "rows w_bits, columns a_bits.",
    ]
    for name, df in layers.groupby("shape", sort=False):
        grid = df.pivot(index="w_bits", columns="a_bits", values="speedup_vs_int8")
        first = df.iloc[0]
        out += [
            "",
            f"## {name}: torch int8 {first['torch_int8_ms']:.3g} ms, "
            f"fp32 {first['torch_fp32_ms']:.3g} ms",
            "",
            "| w \\ a | " + " | ".join(str(c) for c in grid.columns) + " |",
            "|---" * (len(grid.columns) + 1) + "|",
        ]
        for w, row in grid.iterrows():
            out.append(f"| {w} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    if len(nets):
        out += ["", "## Exported integer ResNet-18, batch 1", ""]
        out += [
            "| bits | integer (ms) | torch fp32 channels-last (ms) | speedup | "
            "torch fp32 NCHW (ms) | speedup vs NCHW |",
            "|---|---|---|---|---|---|",
        ]
        for _, r in nets.iterrows():
            out.append(
                f"| {bits_label(r['w_bits'], r['a_bits'])} | {r['integer_bitserial_ms']:.2f} | "
                f"{r['torch_fp32_ms']:.2f} | {r['speedup_vs_fp32']:.2f} | "
                f"{r['torch_fp32_nchw_ms']:.2f} | {r['speedup_vs_fp32_nchw']:.2f} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="w = a only, fewer repeats")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or CPU time of the calling thread (forces one thread): on a crowded "
        "machine the scheduler stretches wall times by whole time slices, CPU time not",
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-resnet", action="store_true", help="skip the ResNet-18 run")
    parser.add_argument(
        "--resnet-only",
        action="store_true",
        help="re-run only the ResNet-18 part; the layer table is read from --out",
    )
    parser.add_argument(
        "--encodings-only",
        action="store_true",
        help="re-run only the +-1 and W x A8 GEMV parts; the other tables are read from --out",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.clock == "cpu":
        args.threads = 1
        set_clock("cpu")
    # Numba first: numba.set_num_threads after torch's resets the OpenMP runtime they share,
    # and torch's int8 GEMV then takes a path 40-80x slower (measured here).
    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 15)
    load_before = os.getloadavg()[0]
    peak = popcount_peak_words(repeats)
    pairs = [(b, b) for b in range(1, 9)]
    if not args.quick:
        pairs = [(w, a) for w in range(1, 9) for a in range(1, 9)]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.encodings_only:
        enc = run_encodings(repeats)
        enc["threads"], enc["clock"] = args.threads, args.clock
        stamp(enc, load_before)  # the commit, the load average
        write_csv(enc, args.out / "crossover_encodings.csv")
        md = (args.out / "crossover.md").read_text()
        md = md.split("\n## +-1 kernels")[0].rstrip("\n") + "\n"
        note = (f"\n(The +-1 and W x A8 sections: {args.threads} thread(s), {args.clock} clock, "
                f"load average {enc['load_avg_1min'].iloc[0]:.1f}, commit "
                f"`{enc['git_commit'].iloc[0]}`, timed apart from the tables "
                "above.)\n")  # fmt: skip
        atomic_write_text(args.out / "crossover.md", md + encodings_summary(enc) + note)
        print(enc.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        return
    if args.resnet_only:
        layers = pd.read_csv(args.out / "crossover.csv")
    else:
        layers = run_layers(pairs, repeats, peak)
        write_csv(layers, args.out / "crossover.csv")  # kept even if the network run fails
    # W1 is left out: a signed symmetric weight quantizer needs at least 2 bits.
    nets = pd.DataFrame() if args.no_resnet else run_resnet18(range(2, 9), max(10, repeats // 3))
    load_after = os.getloadavg()[0]
    header = (
        f"{args.threads} threads, {args.clock} clock, load average {load_before:.1f} before / "
        f"{load_after:.1f} after on {os.cpu_count()} cpus; AND+popcount peak "
        f"{peak * 64 / 1e9:.0f} binary GMAC/s ({peak / 1e9:.1f} G words/s). "
        f"Best of {repeats} calls per contender."
    )
    if args.resnet_only:
        header += " (This run re-timed the ResNet-18 only; the layer tables are the run before's.)"
    header += f" Commit `{git_commit()}`."
    for df in (nets,) if args.resnet_only else (layers, nets):
        df["threads"] = args.threads
        df["clock"] = args.clock
        stamp(df, load_before)  # the commit, the load average (the larger of before / now)
    write_csv(layers, args.out / "crossover.csv")
    if len(nets):
        write_csv(nets, args.out / "crossover_resnet18.csv")
    enc = pd.DataFrame() if args.resnet_only else run_encodings(repeats)
    if len(enc):
        enc["threads"], enc["clock"] = args.threads, args.clock
        stamp(enc, load_before)
        write_csv(enc, args.out / "crossover_encodings.csv")
    kept = ""
    if args.resnet_only:  # the +-1 and W x A8 sections of the run before stay
        before = (args.out / "crossover.md").read_text()
        if "\n## +-1 kernels" in before:
            kept = "\n## +-1 kernels" + before.split("\n## +-1 kernels", 1)[1]
    atomic_write_text(
        args.out / "crossover.md", summary(layers, nets, header) + encodings_summary(enc) + kept
    )
    print(header)
    shown = ["shape", "w_bits", "a_bits", "bitserial_ms", "torch_int8_ms", "torch_fp32_ms"]
    shown += ["speedup_vs_int8", "speedup_vs_fp32", "fraction_of_popcount_peak"]
    square = layers[layers["w_bits"] == layers["a_bits"]]
    print(square[shown].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if len(nets):
        print(nets.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {args.out}/crossover.md")


if __name__ == "__main__":
    main()
