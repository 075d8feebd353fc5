"""A plain-Python reference of the spatial-array skeleton, one point at a time.

Written from the model's description (``hwsim/hardware/skeleton.py`` docstring), not from the
kernel: integer step counts, the pipeline either walked period by period (``pipeline="loop"``,
the independent oracle for tests) or in closed form (``"closed"``, the baseline of
``benchmarks/bench_costmodel.py``), the Binomial expectation from the pmf of the maximum.
"""

from __future__ import annotations

import math

from hwsim.reference.pricing import energy_factor, load, sram_energies

_TABLE: dict = {}


def _table() -> dict:
    if "t" not in _TABLE:
        _TABLE["t"] = load()
    return _TABLE["t"]


def run_width(supported, runs_float: bool, bits: int) -> int:
    if bits == 32:
        return max(supported) if runs_float else 0
    return min((s for s in supported if s >= bits), default=0)


def expected_group_max(a: int, p: float, group: int) -> float:
    """E[max] from P(max = k) = F(k)^g - F(k-1)^g."""
    cdf = [
        sum(math.comb(a, j) * p**j * (1 - p) ** (a - j) for j in range(k + 1)) for k in range(a + 1)
    ]
    prev = 0.0
    total = 0.0
    for k in range(a + 1):
        cur = min(cdf[k], 1.0) ** group
        total += k * (cur - prev)
        prev = cur
    return total


def expected_step(a: int, p: float, group: int) -> float:
    """E[max(1, group max)]: a step costs at least one cycle."""
    return expected_group_max(a, p, group) + (1 - p) ** (a * group)


def steps_of(cfg, layer: dict) -> tuple[int, bool]:
    """Steps of the window-first dataflow (lanes take input channels at one kernel position;
    depthwise channels side by side; FC rows fewer than the columns staggered), or the GEMM
    tiling for families without channel lanes; and whether the steps are staggered."""
    rows, cols, lanes = cfg.array()
    m, n, k, gemms = layer["M"], layer["N"], layer["K"], layer.get("gemms", 1)
    gemm_steps = gemms * ceil_div(m // gemms, cols) * ceil_div(n, rows) * ceil_div(k, lanes)
    if not cfg.channel_lanes:
        return gemm_steps, False
    if layer["kind"] in ("linear", "matmul", "act_matmul"):
        if m // gemms < cols:
            return m * ceil_div(n, rows) * ceil_div(k, lanes), True
        return gemm_steps, False
    g, cin, area = layer["groups"], layer["in_channels"], layer["kernel_area"]
    if layer["kind"] == "depthwise" or (g == cin and g > 1 and n == cin):
        return ceil_div(cin, lanes) * ceil_div(m, cols) * area, False
    return g * ceil_div(m, cols) * ceil_div(n // g, rows) * area * ceil_div(cin // g, lanes), False


def staggered(steps: int, p: float, cols: int) -> float:
    """Walk the chunks one by one: chunk i on column i % cols, issued a cycle after chunk
    i-1 and once its column is free."""
    free = [0.0] * cols
    t = 0.0
    for i in range(steps):
        start = max(t, free[i % cols])
        free[i % cols] = start + p
        t = start + 1
    return max(free)


def ceil_div(a, b):
    return -(-a // b) if isinstance(a, int) and isinstance(b, int) else math.ceil(a / b)


def point(
    cfg, layer: dict, w_req: int, a_req: int, essential: float | None = None, pipeline: str = "loop"
) -> dict:
    """Every metric of one layer at one (w, a) request on one skeleton config."""
    from hwsim.hardware.skeleton import ESSENTIAL, SERIAL

    rule = cfg.step_rule()
    wr = run_width(cfg.w_precisions(), cfg.runs_float, w_req)
    ar = run_width(cfg.a_precisions(), cfg.runs_float, a_req)
    rows, cols, lanes = cfg.array()
    m, n, k, inp = layer["M"], layer["N"], layer["K"], layer["in_elems"]
    steps, stagger = steps_of(cfg, layer)
    if rule.w_mode == SERIAL:
        wf = ceil_div(wr, rule.w_bits_per_cycle)
    elif rule.w_mode == ESSENTIAL:
        wf = expected_step(wr, 0.5, rows * lanes)
    else:
        wf = 1
    if rule.a_mode == SERIAL:
        af = ceil_div(ar, rule.a_bits_per_cycle)
    elif rule.a_mode == ESSENTIAL:
        e = essential if essential is not None else expected_step(ar, 0.5, cfg.group_size())
        af = max(1.0, e / rule.a_bits_per_cycle)
    else:
        af = 1
    gemms = layer.get("gemms", 1)
    compute = gemms * staggered(steps // gemms, wf * af, cols) if stagger else steps * wf * af
    wf, af = compute / steps, 1.0  # the utilization's cycles per step
    ob = cfg.out_bits or ar
    wbytes, abytes, obytes = n * k * wr / 8, inp * ar / 8, m * n * ob / 8
    hw_, ha = cfg.weight_buffer_bytes / 2, cfg.act_buffer_bytes / 2
    chunks_w, chunks_a = math.ceil(wbytes / hw_), math.ceil(abytes / ha)
    rd_w, rd_a = wbytes, abytes  # DRAM bytes written into the weight / activation buffer
    if chunks_w > 1 and chunks_a > 1:
        if wbytes + abytes * chunks_w <= abytes + wbytes * chunks_a:
            rd_a = abytes * chunks_w
        else:
            rd_w = wbytes * chunks_a
    read = rd_w + rd_a
    ref = max(max(cfg.w_precisions()), max(cfg.a_precisions()))
    tiles = max(
        1,
        math.ceil(n * k * ref / 8 / hw_),
        math.ceil(inp * ref / 8 / ha),
        math.ceil(m * n * ref / 8 / (cfg.out_buffer_bytes / 2)),
    )
    tiles = min(tiles, steps)
    bw = cfg.dram_bytes_per_s / cfg.frequency_hz  # bytes per cycle
    ld, st, c = read / tiles / bw, obytes / tiles / bw, compute / tiles
    if pipeline == "loop":
        total = ld
        for i in range(tiles):
            dma = (st if i > 0 else 0.0) + (ld if i < tiles - 1 else 0.0)
            total += max(c, dma)
        total += st
    elif tiles == 1:
        total = ld + c + st
    else:
        total = ld + max(c, ld) + (tiles - 2) * max(c, ld + st) + max(c, st) + st
    total += cfg.fill_cycles
    sram = 8 * (read + obytes) + steps * lanes * (rows * wr + cols * ar) + m * n * ob
    fe = energy_factor(cfg.technology_nm)
    e_comp = m * n * k * (cfg.e_mul8_pj * wr * ar / 64 + cfg.e_add_pj) * fe * 1e-12
    # Per buffer: DRAM fills are writes, the array's reads and the output drain are reads.
    ewr, eww, ear, eaw, eor, eow = sram_energies(
        cfg, None if cfg.e_sram_pj_per_bit is not None else _table()
    )
    if layer["kind"] == "act_matmul":
        ewr, eww = ear, eaw
    e_sram = (
        8 * rd_w * eww
        + steps * lanes * rows * wr * ewr
        + 8 * rd_a * eaw
        + steps * lanes * cols * ar * ear
        + m * n * ob * eow
        + 8 * obytes * eor
    ) * 1e-12
    e_dram = 8 * (read + obytes) * cfg.e_dram_pj_per_bit * 1e-12
    return {
        "cycles": total,
        "stall_cycles": total - compute,
        "latency_s": total / cfg.frequency_hz,
        "energy_j": e_comp + e_sram + e_dram,
        "compute_energy_j": e_comp,
        "sram_energy_j": e_sram,
        "dram_energy_j": e_dram,
        "dram_read_bytes": read,
        "dram_write_bytes": obytes,
        "dram_bytes": read + obytes,
        "sram_bits": sram,
        "weight_bits": n * k * wr,
        "activation_bits": inp * ar + m * n * ob,
        "utilization": m * n * k * wf * af / (total * rows * cols * lanes),
        "w_bits_run": wr,
        "a_bits_run": ar,
        "tiles": tiles,
    }


def layer_dict(workload, i: int) -> dict:
    c = workload.columns
    return {
        "M": int(c["M"][i]),
        "N": int(c["N"][i]),
        "K": int(c["K"][i]),
        "in_elems": int(workload.input_elems[i]),
        "kind": workload.kinds[i],
        "groups": int(c["groups"][i]),
        "in_channels": int(c["in_channels"][i]),
        "kernel_area": int(c["kernel_h"][i] * c["kernel_w"][i]),
        "gemms": int(workload.independent_gemms[i]),
    }
