"""The Bit Fusion tiling search in Numba: every power-of-two tiling under every loop order.

Layout of one point row (int64): see :data:`ROW_FIELDS`. One result row (int64): see
:data:`OUT_FIELDS`. The search follows the public simulator's model (docs/models.md,
section 3): tile footprints must fit half their buffer, DRAM traffic grows by promotion from
the innermost loop outward, memory stalls are a per-layer roofline with a prologue and an
epilogue, and the pick is the fewest cycles, ties broken by the least energy.

Speed comes from two facts: a loop that runs once (one tile) changes no counter, so only the
relative order of the loops that run more than once matters; and when the output is square the
OW and OH loops are interchangeable. For each tiling only the distinct orders are evaluated.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange

ROW_FIELDS: tuple[str, ...] = (
    "B",
    "Oh",
    "Ow",
    "Kh",
    "Kw",
    "Sh",
    "Sw",
    "IC",
    "OC",
    "im2col",
    "a",
    "w",
    "config",
)
CFG_FIELDS: tuple[str, ...] = (
    "N",
    "M",
    "pmax",
    "pmin",
    "wbuf_bytes",
    "ibuf_bytes",
    "obuf_bytes",
    "bw",
    "psum_bits",
)
ENERGY_FIELDS: tuple[str, ...] = (
    "core",
    "wbuf_rd",
    "wbuf_wr",
    "ibuf_rd",
    "ibuf_wr",
    "obuf_rd",
    "obuf_wr",
    "dram",
)
OUT_FIELDS: tuple[str, ...] = (
    "cycles",
    "stall_cycles",
    "compute_cycles",
    "wbuf_read_bits",
    "wbuf_write_bits",
    "ibuf_read_bits",
    "ibuf_write_bits",
    "obuf_read_bits",
    "obuf_write_bits",
    "dram_read_bits",
    "dram_write_bits",
    "tile_b",
    "tile_oh",
    "tile_ow",
    "tile_ic",
    "tile_oc",
    "loop_order",
)

N_OUT = len(OUT_FIELDS)

# Slots of each row, derived from the tuples above so each layout is written once; Numba reads
# these module-level ints as constants.
(R_B, R_OH, R_OW, R_KH, R_KW, R_SH, R_SW, R_IC, R_OC, R_IM2COL, R_A, R_W, R_CONFIG) = (
    ROW_FIELDS.index(k)
    for k in ("B", "Oh", "Ow", "Kh", "Kw", "Sh", "Sw", "IC", "OC", "im2col", "a", "w", "config")
)
(C_N, C_M, C_PMAX, C_PMIN, C_WBUF, C_IBUF, C_OBUF, C_BW, C_PSUM) = (
    CFG_FIELDS.index(k)
    for k in ("N", "M", "pmax", "pmin", "wbuf_bytes", "ibuf_bytes", "obuf_bytes", "bw", "psum_bits")
)
(E_CORE, E_WBUF_RD, E_WBUF_WR, E_IBUF_RD, E_IBUF_WR, E_OBUF_RD, E_OBUF_WR, E_DRAM) = (
    ENERGY_FIELDS.index(k)
    for k in ("core", "wbuf_rd", "wbuf_wr", "ibuf_rd", "ibuf_wr", "obuf_rd", "obuf_wr", "dram")
)
O_CYCLES = OUT_FIELDS.index("cycles")
O_STALL = OUT_FIELDS.index("stall_cycles")
O_COMPUTE = OUT_FIELDS.index("compute_cycles")
O_WBUF_RD = OUT_FIELDS.index("wbuf_read_bits")
O_WBUF_WR = OUT_FIELDS.index("wbuf_write_bits")
O_IBUF_RD = OUT_FIELDS.index("ibuf_read_bits")
O_IBUF_WR = OUT_FIELDS.index("ibuf_write_bits")
O_OBUF_RD = OUT_FIELDS.index("obuf_read_bits")
O_OBUF_WR = OUT_FIELDS.index("obuf_write_bits")
O_DRAM_RD = OUT_FIELDS.index("dram_read_bits")
O_DRAM_WR = OUT_FIELDS.index("dram_write_bits")
O_TILE_B = OUT_FIELDS.index("tile_b")
O_TILE_OH = OUT_FIELDS.index("tile_oh")
O_TILE_OW = OUT_FIELDS.index("tile_ow")
O_TILE_IC = OUT_FIELDS.index("tile_ic")
O_TILE_OC = OUT_FIELDS.index("tile_oc")
O_LOOP_ORDER = OUT_FIELDS.index("loop_order")

# Loops: 0 B, 1 OW, 2 OH, 3 IC, 4 OC. Tensors: 0 wgt, 1 act, 2 out.
LOOP_NAMES: tuple[str, ...] = ("B", "OW", "OH", "IC", "OC")
DEPS = np.array([[0, 1, 1], [0, 1, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1]], dtype=np.int64)
ORDERS = np.array(list(itertools.permutations(range(5))), dtype=np.int64)  # outer -> inner


def _distinct_orders(symmetric_ow_oh: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each mask of loops with more than one tile, the first order of each distinct
    relative order of those loops (flattened, with offsets)."""
    flat: list[int] = []
    offsets = [0]
    for mask in range(32):
        seen: set[tuple[int, ...]] = set()
        for i, order in enumerate(ORDERS):
            key = tuple(
                (1 if (symmetric_ow_oh and lp == 2) else int(lp))
                for lp in order
                if mask >> int(lp) & 1
            )
            if key not in seen:
                seen.add(key)
                flat.append(i)
        offsets.append(len(flat))
    return np.array(flat, dtype=np.int64), np.array(offsets, dtype=np.int64)


ORDER_SETS, ORDER_OFFSETS = _distinct_orders(False)
ORDER_SETS_SYM, ORDER_OFFSETS_SYM = _distinct_orders(True)


@njit(cache=True, inline="always")
def _cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


@njit(cache=True, inline="always")
def _clog2(x: int) -> int:
    k = 0
    while (1 << k) < x:
        k += 1
    return k


@njit(cache=True)
def _search_one(row, cfg, en, orders, deps, sets, offs, sets_sym, offs_sym, out):
    B, Oh, Ow, Kh, Kw, Sh, Sw = (
        row[R_B],
        row[R_OH],
        row[R_OW],
        row[R_KH],
        row[R_KW],
        row[R_SH],
        row[R_SW],
    )
    IC, OC, im2col, a, w = row[R_IC], row[R_OC], row[R_IM2COL], row[R_A], row[R_W]
    N, M, pmax, pmin = cfg[C_N], cfg[C_M], cfg[C_PMAX], cfg[C_PMIN]
    # Half a buffer, in bits.
    half_w, half_a, half_o = cfg[C_WBUF] * 4, cfg[C_IBUF] * 4, cfg[C_OBUF] * 4
    bw, psum = cfg[C_BW], cfg[C_PSUM]
    # Fusion: bricks fuse up to pmax bits; wider operands run in temporal passes.
    pa = min(max(a, pmin), pmax)
    pw = min(max(w, pmin), pmax)
    npf = N * (pmax // pa) * (pmax // pw)
    passes = _cdiv(a, pmax) * _cdiv(w, pmax)
    kk = Kh * Kw

    n_b = _clog2(B) + 1
    n_o = _clog2(max(Oh, Ow)) + 1
    n_ic = _clog2(IC) + 1
    n_oc = _clog2(OC) + 1 if im2col else _clog2(_cdiv(OC, M)) + 1

    tiles = np.empty(5, dtype=np.int64)
    best_cycles = -1
    best_energy = np.inf
    for ib in range(n_b):
        b = min(1 << ib, B)
        nb = _cdiv(B, b)
        for io in range(n_o):
            ow = min(1 << io, Ow)
            oh = min(1 << io, Oh)
            now = _cdiv(Ow, ow)
            noh = _cdiv(Oh, oh)
            for iic in range(n_ic):
                ic = min(1 << iic, IC)
                nic = _cdiv(IC, ic)
                for ioc in range(n_oc):
                    oc = min(1 << ioc, OC) if im2col else min((1 << ioc) * M, OC)
                    noc = _cdiv(OC, oc)
                    oc_pad = _cdiv(oc, M) * M
                    wt = _cdiv(kk * ic, npf) * npf * oc * w
                    if im2col:
                        at = ow * oh * kk * ic * b * a
                    else:
                        at = (Kw + (ow - 1) * Sw) * (Kh + (oh - 1) * Sh) * ic * b * a
                    ot = ow * oh * oc_pad * b * psum
                    if wt > half_w or at > half_a or ot > half_o:
                        continue
                    nt = nb * now * noh * nic * noc
                    # Stationarity of the inner loops, by the simulator's bit-count proxy.
                    is_loop = oc_pad
                    if im2col:
                        os_loop = _cdiv(ic * kk, npf) * npf
                    else:
                        os_loop = _cdiv(ic, npf) * npf * kk
                    ws_loop = b * oh * ow
                    is_e = os_loop * ws_loop * (a + is_loop * (w + psum))
                    os_e = is_loop * ws_loop * (psum + os_loop * (a + w))
                    ws_e = os_loop * is_loop * (w + ws_loop * (a + psum))
                    px = kk * ic * oh * ow * b
                    if is_e <= os_e and is_e <= ws_e:
                        act_rd = nt * px * a
                        out_in = nt * px * oc * psum
                        wgt_rd = nt * px * oc * w
                    elif os_e <= ws_e:
                        act_rd = nt * (oc * oh * ow * b) * (kk * ic) * a
                        out_in = nt * (oc * oh * ow * b) * psum
                        wgt_rd = nt * (oc * oh * ow * b) * (kk * ic) * w
                    else:
                        act_rd = nt * (kk * ic * oc) * (b * ow * oh) * a
                        out_in = nt * (kk * ic * oc) * (b * ow * oh) * psum
                        wgt_rd = nt * (kk * ic * oc) * w
                    if im2col:
                        cc = b * oh * ow * _cdiv(oc, M) * _cdiv(kk * ic, npf)
                    else:
                        cc = b * _cdiv(oc, M) * ow * oh * kk * _cdiv(ic, npf)
                    compute = nt * cc * passes

                    tiles[0] = nb
                    tiles[1] = now
                    tiles[2] = noh
                    tiles[3] = nic
                    tiles[4] = noc
                    mask = 0
                    for lp in range(5):
                        if tiles[lp] > 1:
                            mask |= 1 << lp
                    if now == noh:
                        lo, hi, cand = offs_sym[mask], offs_sym[mask + 1], sets_sym
                    else:
                        lo, hi, cand = offs[mask], offs[mask + 1], sets
                    for ci in range(lo, hi):
                        oi = cand[ci]
                        tw = wt
                        ta = at
                        to = ot
                        ro = ot
                        mw = wt
                        ma = at
                        mo = ot
                        mro = ot
                        fw = True
                        fa = True
                        fo = True
                        fr = True
                        for pos in range(4, -1, -1):
                            lp = orders[oi, pos]
                            n = tiles[lp]
                            if n == 1:
                                continue
                            if fw:
                                if deps[lp, 0]:
                                    tw *= n
                                    if tw > half_w:
                                        fw = False
                                    else:
                                        mw = tw
                            else:
                                tw *= n
                            if fa:
                                if deps[lp, 1]:
                                    ta *= n
                                    if ta > half_a:
                                        fa = False
                                    else:
                                        ma = ta
                            else:
                                ta *= n
                            if fo:
                                if deps[lp, 2]:
                                    to *= n
                                    if to > half_o:
                                        fo = False
                                    else:
                                        mo = to
                            else:
                                to *= n
                            if fr:
                                if deps[lp, 2]:
                                    ro *= n
                                    if ro > half_o:
                                        fr = False
                                    else:
                                        # Quirk kept: the final-write size is read off the
                                        # write counter of the output.
                                        mro = to
                            else:
                                ro *= n
                        dram_rd = tw + ta + to
                        dram_wr = ro
                        init = mw + ma + mo
                        latency = _cdiv(init, bw) + _cdiv(mro, bw)
                        middle = dram_rd + dram_wr - init - mro
                        stall = max(0, _cdiv(middle, bw) - compute) + latency
                        cycles = compute + stall
                        if best_cycles >= 0 and cycles > best_cycles:
                            continue
                        obuf_rd = ro + out_in
                        obuf_wr = to + out_in
                        # Same terms, same order as the simulator's energy sum.
                        energy = compute * en[E_CORE]
                        energy += wgt_rd * en[E_WBUF_RD]
                        energy += tw * en[E_WBUF_WR]
                        energy += act_rd * en[E_IBUF_RD]
                        energy += ta * en[E_IBUF_WR]
                        energy += obuf_rd * en[E_OBUF_RD]
                        energy += obuf_wr * en[E_OBUF_WR]
                        energy += dram_rd * en[E_DRAM]
                        energy += dram_wr * en[E_DRAM]
                        if best_cycles < 0 or cycles < best_cycles or energy < best_energy:
                            best_cycles = cycles
                            best_energy = energy
                            out[O_CYCLES] = cycles
                            out[O_STALL] = stall
                            out[O_COMPUTE] = compute
                            out[O_WBUF_RD] = wgt_rd
                            out[O_WBUF_WR] = tw
                            out[O_IBUF_RD] = act_rd
                            out[O_IBUF_WR] = ta
                            out[O_OBUF_RD] = obuf_rd
                            out[O_OBUF_WR] = obuf_wr
                            out[O_DRAM_RD] = dram_rd
                            out[O_DRAM_WR] = dram_wr
                            out[O_TILE_B] = b
                            out[O_TILE_OH] = oh
                            out[O_TILE_OW] = ow
                            out[O_TILE_IC] = ic
                            out[O_TILE_OC] = oc
                            out[O_LOOP_ORDER] = oi
    if best_cycles < 0:
        out[O_CYCLES] = -1  # no tiling fits the buffers


@njit(cache=True, parallel=True)
def search(rows, cfgs, energies, orders, deps, sets, offs, sets_sym, offs_sym):
    """Best tiling and loop order of each row; one output row per input row."""
    out = np.zeros((rows.shape[0], N_OUT), dtype=np.int64)
    for i in prange(rows.shape[0]):
        h = rows[i, R_CONFIG]
        _search_one(
            rows[i], cfgs[h], energies[h], orders, deps, sets, offs, sets_sym, offs_sym, out[i]
        )
    return out


@njit(cache=True)
def search_serial(rows, cfgs, energies, orders, deps, sets, offs, sets_sym, offs_sym):
    """:func:`search` on one thread: waking a thread pool costs more than a few rows."""
    out = np.zeros((rows.shape[0], N_OUT), dtype=np.int64)
    for i in range(rows.shape[0]):
        h = rows[i, R_CONFIG]
        _search_one(
            rows[i], cfgs[h], energies[h], orders, deps, sets, offs, sets_sym, offs_sym, out[i]
        )
    return out


PARALLEL_MIN_ROWS = 16


def run_search(rows: np.ndarray, cfgs: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """:func:`search` with the order tables bound; rows must already be validated."""
    kernel = search if len(rows) >= PARALLEL_MIN_ROWS else search_serial
    return kernel(
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(cfgs, dtype=np.int64),
        np.ascontiguousarray(energies, dtype=np.float64),
        ORDERS,
        DEPS,
        ORDER_SETS,
        ORDER_OFFSETS,
        ORDER_SETS_SYM,
        ORDER_OFFSETS_SYM,
    )
