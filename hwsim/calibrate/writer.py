"""The calibration's writer: a measured ``cpu`` preset as TOML, every field with its
source."""

from __future__ import annotations

import time
from typing import Any

from hwsim.io import toml_text


def preset_toml(
    result: dict[str, Any], name: str = "cpu-bitserial", kernel: str = "bitserial"
) -> str:
    """The calibration as a ``cpu`` preset TOML running ``kernel``, every field with its
    source."""
    f = {**result["fields"], "kernel": kernel}
    when = time.strftime("%Y-%m-%d", time.gmtime())
    meas = f"[MEASURED] hwsim calibrate on this machine ({result['machine']}, {when})"
    timed = bool(result.get("baselines"))
    torch_src = {
        "int8": "torch._int_mm and torch's quantized conv2d",
        "fp32": "torch.matmul and torch conv2d",
    }
    baseline_src = {}
    for impl, what in torch_src.items():
        for term, meaning in (
            ("macs_per_s", "MAC rate"),
            ("s_per_input", "cost per input element"),
            ("s_per_weight", "cost per weight element"),
            ("s_per_output", "cost per output element"),
            ("call_s", "per-call cost"),
            ("s_per_dram_byte", "cost per weight byte beyond the cache"),
            ("s_per_gemm_weight", "cost per weight element of a GEMM (M > 1) beyond a GEMV's"),
            ("cache_bytes", "weight bytes a call keeps in cache"),
            ("parallel_macs", "MACs below which a call runs on one thread"),
        ):
            baseline_src[f"{impl}_{term}"] = (
                f"{meas}: fit of {what} timings ({meaning})"
                if timed
                else "[INFER] not timed: "
                + {
                    "int8_macs_per_s": "2x the measured fp32 rate (AVX2 vpmaddubsw vs FMA)",
                    "fp32_macs_per_s": "numpy float32 matmul (BLAS), measured here",
                }.get(f"{impl}_{term}", "no shape term without torch timings")
            )
    src = {
        "kernel": {
            "bitserial": "[INFER] the hwsim.kernels AND+popcount GEMM",
            "int8": "[INFER] torch's int8 kernels (oneDNN / fbgemm), the quantized baseline",
            "fp32": "[INFER] torch's fp32 kernels, the float baseline",
            "best": "[INFER] the fastest of bitserial, int8, fp32 and the weight-stream kernels "
            "(lut, vnni) for each layer",
        }[kernel],
        **baseline_src,
        "cores": f"{meas}: numba threads",
        "frequency_hz": f"{meas}: /proc/cpuinfo",
        "l1_bytes": f"{meas}: sysfs cache/index*/size, level-1 data cache of one core",
        "l2_bytes": f"{meas}: sysfs cache/index*/size, level-2 cache of one core",
        "l3_bytes": f"{meas}: sysfs cache/index*/size, level-3 cache (shared)",
        "l1_bytes_per_s": f"{meas}: one-thread sum over 16 KiB, times cores",
        "l2_bytes_per_s": f"{meas}: one-thread sum over 256 KiB, times cores",
        "l3_bytes_per_s": f"{meas}: one-thread sum over 4 MiB, times cores",
        "dram_bytes_per_s": f"{meas}: one-thread sum over 64-256 MiB",
        "binary_words_per_s": f"{meas}: fit of hwsim.kernels timings (peak AND+POPCNT loop "
        f"{result['peak_popcount_words_per_s']:.3g} words/s)",
        "pack_s_per_elem": f"{meas}: fit of hwsim.kernels timings (reading each code to pack)",
        "pack_s_per_elem_bit": f"{meas}: fit of hwsim.kernels timings (activation packing)",
        "writeback_s_per_output_pair": f"{meas}: fit of hwsim.kernels timings "
        "(register tile write-back per output and plane pair)",
        "row_tile_s_per_word": f"{meas}: fit of hwsim.kernels timings (a row tile's cost per "
        "word beyond one row's)",
        "weight_stream_s_per_byte": f"{meas}: fit of hwsim.kernels timings (packed weight bytes "
        "re-read from beyond L2)",
        "call_overhead_s": f"{meas}: hwsim.kernels time of a one-word GEMM (per-call overhead)",
        "lut_bytes_per_s": f"{meas}: fit of hwsim.kernels.lut timings (table-index bytes per "
        "second, two lookups of 32 outputs per 16-bit word)",
        "lut_s_per_code": f"{meas}: fit of hwsim.kernels.lut timings (building the tables, per "
        "activation code)",
        "lut_stream_s_per_byte": f"{meas}: fit of hwsim.kernels.lut timings (index bytes read "
        "from beyond L2, per row)",
        "vnni_bytes_per_s": f"{meas}: fit of hwsim.kernels.vnni timings (unpacked weight bytes "
        "fed to vpdpbusd per second, one per MAC)",
        "vnni_s_per_code": f"{meas}: fit of hwsim.kernels.vnni timings (padding and checking "
        "the activation bytes, per code)",
        "vnni_stream_s_per_byte": f"{meas}: fit of hwsim.kernels.vnni timings (weight bytes "
        "read from beyond L2, per row)",
        "parallel_call_s": f"{meas}: fit of hwsim.kernels timings (extra cost of a threaded call)",
        "power_w": "[INFER] about 15 W per busy server core (package power / cores)",
        "e_dram_pj_per_bit": "[PAPER] Horowitz/Han et al.: 32-bit DRAM read 640 pJ = 20 pJ/bit",
    }
    # A weight-stream kernel this CPU cannot run was not timed: its zeros leave it out, and
    # its sources say so instead of claiming a fit.
    timed = result.get("stream_timings", {})
    for kind, needs in (("lut", "AVX-512BW (vpermi2w)"), ("vnni", "AVX-512 VNNI (vpdpbusd)")):
        if kind not in timed:
            for term in ("bytes_per_s", "s_per_code", "stream_s_per_byte"):
                src[f"{kind}_{term}"] = (
                    f"{meas}: not timed, this CPU lacks {needs}; 0 leaves the kernel out"
                )
    values = {
        key: v if isinstance(v, str) else int(v) if isinstance(v, int) else float(v)
        for key, v in f.items()
    }
    return toml_text(
        {"family": "cpu", "name": name, **values},
        {key: src[key] for key in f},
        comment=f"{name}: calibrated with `hwsim calibrate` ({when}).",
    )
