"""Bit Fusion's prices (energy per cycle and per bit, area, leakage) against its authors'
simulator away from its default configuration.

The reference data (``data/bitfusion_ref_configs.csv``, ``data/bitfusion_ref_layers.csv``) is
the public simulator's own output at configurations it can run (array, buffers and DRAM width
changed; no energy or area overridden), written by ``benchmarks/bitfusion_ref/generate.py``:
its ``get_energy_cost``, ``get_area`` and per-layer ``Stats`` with their energy breakdown.
"""

from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

import pytest

from hwsim import HwsimError
from hwsim.hardware import load_hardware, simulate
from hwsim.hardware.bitfusion import DERIVED_ENERGIES, BitFusionConfig
from tests.hwsim.hardware.test_bitfusion import COLUMNS, _workload

DATA = Path(__file__).parent / "data"


def _read(name: str) -> list[dict[str, str]]:
    with (DATA / name).open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


CONFIGS = {r["config"]: r for r in _read("bitfusion_ref_configs.csv")}
LAYERS = _read("bitfusion_ref_layers.csv")
CASES = sorted({(r["config"], r["network"]) for r in LAYERS})


def _config(name: str) -> BitFusionConfig:
    r = CONFIGS[name]
    return load_hardware(
        "bitfusion",
        rows=int(r["rows"]),
        cols=int(r["cols"]),
        max_bits=int(r["max_bits"]),
        min_bits=int(r["min_bits"]),
        wbuf_bytes=int(r["wbuf_bytes"]),
        ibuf_bytes=int(r["ibuf_bytes"]),
        obuf_bytes=int(r["obuf_bytes"]),
        dram_bytes_per_s=int(r["dram_bits_per_cycle"]) / 8 * 500e6,
    )


def test_reference_covers_non_default_configs() -> None:
    default = load_hardware("bitfusion")
    shapes = {(c.rows, c.cols) for c in map(_config, CONFIGS)}
    assert len(shapes) >= 4 and (default.rows, default.cols) in shapes
    assert len({c.dram_bits_per_cycle for c in map(_config, CONFIGS)}) >= 4
    assert len({(c.wbuf_bytes, c.ibuf_bytes, c.obuf_bytes) for c in map(_config, CONFIGS)}) >= 4


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_derived_energies_are_the_simulators(name: str) -> None:
    cfg, r = _config(name), CONFIGS[name]
    assert cfg.dram_bits_per_cycle == int(r["dram_bits_per_cycle"])
    theirs = {
        "core_pj_per_cycle": "core_dynamic_energy_nj",
        "wbuf_read_pj_per_bit": "wbuf_read_energy_nj",
        "wbuf_write_pj_per_bit": "wbuf_write_energy_nj",
        "ibuf_read_pj_per_bit": "ibuf_read_energy_nj",
        "ibuf_write_pj_per_bit": "ibuf_write_energy_nj",
        "obuf_read_pj_per_bit": "obuf_read_energy_nj",
        "obuf_write_pj_per_bit": "obuf_write_energy_nj",
    }
    assert set(theirs) == set(DERIVED_ENERGIES)
    for ours, col in theirs.items():
        assert getattr(cfg, ours) == pytest.approx(float(r[col]) * 1e3, rel=1e-12), ours


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_area_is_get_area(name: str) -> None:
    area, r = _config(name).area_breakdown(), CONFIGS[name]
    assert set(area) == {"compute", "weight_buffer", "act_buffer", "out_buffer"}
    for ours, col in (
        ("compute", "core_area_mm2"),
        ("weight_buffer", "wbuf_area_mm2"),
        ("act_buffer", "ibuf_area_mm2"),
        ("out_buffer", "obuf_area_mm2"),
    ):
        assert area[ours] == pytest.approx(float(r[col]), rel=0.01), ours


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_leakage_is_the_rows_the_simulator_logs(name: str) -> None:
    r = CONFIGS[name]
    want = float(r["core_leak_nw"]) * 1e-9 + sum(
        float(r[f"{b}_leak_mw"]) * 1e-3 for b in ("wbuf", "ibuf", "obuf")
    )
    assert _config(name).leakage_w() == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("name,network", CASES)
def test_layers_match_the_simulator(name: str, network: str) -> None:
    """Per layer: cycles, stalls and every bit count identical; energy and its core / SRAM /
    DRAM split within 1e-6 relative."""
    cfg = _config(name)
    rows = [r for r in LAYERS if r["config"] == name and r["network"] == network]
    # Each layer as the simulator read it from its benchmark graph.
    shape = ("B", "O", "K", "S", "IC", "OC", "a", "w", "im2col")
    wl, policy = _workload({r["layer"]: {k: int(r[k]) for k in shape} for r in rows}, network)
    got = simulate(wl, policy, cfg).layers.set_index("name")
    assert len(got) == len(rows)
    for r in rows:
        layer = r["layer"]
        g = got.loc[layer]
        for theirs, ours in COLUMNS.items():
            assert int(g[ours]) == int(r[theirs]), (layer, theirs)
        for ours, col in (
            ("compute_energy_j", "core_energy_nj"),
            ("sram_energy_j", "sram_energy_nj"),
            ("dram_energy_j", "dram_energy_nj"),
            ("energy_j", "energy_nj"),
        ):
            assert g[ours] * 1e9 == pytest.approx(float(r[col]), rel=1e-6), (layer, ours)


def _package_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("hwsim.hardware").joinpath(f"data/{name}").read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def test_cacti_extension_reproduces_the_authors_rows() -> None:
    """The rows beyond the authors' table come from the same tool: its run gives their eight
    rows back (energies and leakage to CACTI's six printed digits, area to 1e-4)."""
    ext = {
        (float(r["size (bytes)"]), float(r["block size (bytes)"]), int(r["read-write port"])): r
        for r in _package_rows("bitfusion_cacti_ext.csv")
    }
    authors = _package_rows("bitfusion_cacti_sweep.csv")
    assert len(authors) == 8
    for a in authors:
        key = (float(a["size (bytes)"]), float(a["block size (bytes)"]), int(a["read-write port"]))
        e = ext[key]
        for col in ("read_energy_nJ", "write_energy_nJ", "leak_power_mW"):
            assert math.isclose(float(e[col]), float(a[col]), rel_tol=1e-9), (key, col)
        assert math.isclose(float(e["area_mm^2"]), float(a["area_mm^2"]), rel_tol=1e-4), key


def test_paper_area_at_the_default() -> None:
    """Sharma et al., ISCA 2018, section VI (the 45 nm Bit Fusion against Eyeriss at equal
    area): 2.14 mm^2 with core 0.888, WBUF 0.767, IBUF 0.242, OBUF 0.243 (mm^2)."""
    area = load_hardware("bitfusion").area_breakdown()
    for key, paper in (
        ("compute", 0.888),
        ("weight_buffer", 0.767),
        ("act_buffer", 0.242),
        ("out_buffer", 0.243),
    ):
        assert area[key] == pytest.approx(paper, abs=0.0005)
    assert sum(area.values()) == pytest.approx(2.14, abs=0.005)


def test_core_energy_scales_with_the_array() -> None:
    """The 4 x 4 8/2-bit synthesis row (3673500 nW at 500 MHz) scaled by N*M/16 where the table
    has no row of the shape: 58.8 pJ per cycle at 8 x 16, four times that at 16 x 32."""
    cfg = load_hardware("bitfusion", rows=8, cols=16, wbuf_bytes=16384, ibuf_bytes=16384)
    assert cfg.core_pj_per_cycle == pytest.approx(3673500 * 128 / 16 / 500e6 * 1e3, rel=1e-12)
    big = cfg.replace(rows=64, cols=64, wbuf_bytes=4096 * 128, ibuf_bytes=64 * 2048)
    assert big.core_pj_per_cycle == pytest.approx(cfg.core_pj_per_cycle * 32, rel=1e-12)
    assert big.area_breakdown()["compute"] > cfg.area_breakdown()["compute"]


def test_replace_derives_again_and_pins_stay_pinned() -> None:
    base = load_hardware("bitfusion")
    moved = base.replace(rows=8, cols=16, wbuf_bytes=131072, ibuf_bytes=16384, obuf_bytes=8192)
    fresh = load_hardware(
        "bitfusion", rows=8, cols=16, wbuf_bytes=131072, ibuf_bytes=16384, obuf_bytes=8192
    )
    assert moved == fresh
    assert moved.core_pj_per_cycle != base.core_pj_per_cycle
    pinned = base.replace(core_pj_per_cycle=100.0).replace(rows=8, cols=16, wbuf_bytes=131072)
    assert pinned.core_pj_per_cycle == 100.0
    assert pinned.wbuf_read_pj_per_bit == moved.wbuf_read_pj_per_bit
    assert pinned.derived_energies()["core_pj_per_cycle"] == moved.core_pj_per_cycle


def test_unpriceable_banks_and_fusion_units_raise_naming_the_field() -> None:
    base = load_hardware("bitfusion")
    # 64 x 64 units with 32 KiB of weights: 8-byte banks, below CACTI's smallest organisation.
    with pytest.raises(HwsimError, match="no CACTI row") as err:
        base.replace(rows=64, cols=64, wbuf_bytes=32768)
    assert err.value.field == "bitfusion.wbuf_bytes"
    # Banks that are not whole words: the simulator's own assertion.
    with pytest.raises(HwsimError, match="banks of whole") as err:
        base.replace(ibuf_bytes=32768 + 4)
    assert err.value.field == "bitfusion.ibuf_bytes"
    with pytest.raises(HwsimError, match="synthesis table") as err:
        base.replace(max_bits=16, min_bits=4)
    assert err.value.field == "bitfusion.max_bits"
    # 4/4-bit bricks bank 4-bit words: the synthesis table has the unit, CACTI no such word.
    with pytest.raises(HwsimError, match="not whole bytes") as err:
        base.replace(max_bits=4, min_bits=4)
    assert err.value.field == "bitfusion.max_bits"
    # Pinned energies run anywhere the cycle model does; the area still needs the rows.
    pinned = base.replace(**{k: getattr(base, k) for k in DERIVED_ENERGIES}, wbuf_bytes=1000)
    assert pinned.wbuf_bytes == 1000
    with pytest.raises(HwsimError, match="banks of whole"):
        pinned.area_breakdown()


def test_technology_node_scales_core_and_buffers_not_dram() -> None:
    """At another node the core and buffer energies, area and leakage move by the
    Stillmaker-Baas factors of hwsim.hardware.pricing; DRAM energy stays the preset's."""
    from hwsim.hardware.pricing import area_factor, energy_factor, power_factor

    at45 = load_hardware("bitfusion")
    at16 = at45.replace(technology_nm=16)
    wl, policy = _workload(
        {"l": {"B": 2, "O": 8, "K": 3, "S": 1, "IC": 64, "OC": 64, "a": 4, "w": 4, "im2col": 0}}
    )
    a = simulate(wl, policy, at45).layers.iloc[0]
    b = simulate(wl, policy, at16).layers.iloc[0]
    assert b["cycles"] == a["cycles"]
    f = energy_factor(16)
    assert b["compute_energy_j"] == pytest.approx(a["compute_energy_j"] * f, rel=1e-12)
    assert b["sram_energy_j"] == pytest.approx(a["sram_energy_j"] * f, rel=1e-12)
    assert b["dram_energy_j"] == a["dram_energy_j"]
    for k, v in at45.area_breakdown().items():
        assert at16.area_breakdown()[k] == pytest.approx(v * area_factor(16), rel=1e-12)
    assert at16.leakage_w() == pytest.approx(at45.leakage_w() * power_factor(16), rel=1e-12)
    with pytest.raises(HwsimError) as err:
        at45.replace(technology_nm=11)
    assert err.value.field == "bitfusion.technology_nm"


def test_a_written_config_is_repriced_when_resized(tmp_path: Path) -> None:
    from hwsim.io import hardware_toml

    path = tmp_path / "bf.toml"
    path.write_text(hardware_toml(load_hardware("bitfusion")))
    read = load_hardware(str(path))
    assert read == load_hardware("bitfusion")
    bigger = read.replace(rows=8, cols=16)
    fresh = load_hardware("bitfusion").replace(rows=8, cols=16)
    assert bigger.core_pj_per_cycle == fresh.core_pj_per_cycle
    assert bigger.core_pj_per_cycle != read.core_pj_per_cycle
    pinned = load_hardware("bitfusion").replace(core_pj_per_cycle=100.0)
    path.write_text(hardware_toml(pinned))
    assert load_hardware(str(path)).replace(rows=8).core_pj_per_cycle == 100.0
