"""One unit per quantity: DRAM bandwidth is bytes per second in every family; the per-cycle
keys (``dram_bytes_per_cycle``, Bit Fusion's ``dram_bits_per_cycle``) are unknown fields."""

import re
import warnings
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import Workload
from hwsim.hardware import families, load_hardware, preset_names
from hwsim.hardware.skeleton import P_BW, SkeletonConfig
from tests.strategies import skeleton_configs

# The presets' bandwidths per cycle, as the papers and the authors' code give them.
OLD_PRESET_KEYS = {
    "dadiannao": ("dram_bytes_per_cycle", 512),
    "stripes": ("dram_bytes_per_cycle", 512),
    "loom": ("dram_bytes_per_cycle", 512),
    "pragmatic": ("dram_bytes_per_cycle", 512),
    "bismo": ("dram_bytes_per_cycle", 8),
    "bitfusion": ("dram_bits_per_cycle", 192),
    "bitfusion-corrected": ("dram_bits_per_cycle", 192),
}

# A conv and a linear layer, enough to exercise compute, buffers and DRAM in every family.
SMALL = Workload.from_layers(
    "small",
    [
        {
            "name": "conv",
            "kind": "conv",
            "batch": 1,
            "in_channels": 32,
            "out_channels": 64,
            "in_h": 28,
            "in_w": 28,
            "out_h": 28,
            "out_w": 28,
            "kernel_h": 3,
            "kernel_w": 3,
            "stride_h": 1,
            "stride_w": 1,
            "pad_h": 1,
            "pad_w": 1,
        },
        {"name": "fc", "kind": "linear", "batch": 4, "in_channels": 2048, "out_channels": 1000},
    ],
)


def test_every_family_names_dram_bandwidth_the_same():
    for fam in families().values():
        fields = set(fam.config_type.__dataclass_fields__)
        if any(f.startswith("dram_") and ("per_cycle" in f or "bw" in f) for f in fields):
            pytest.fail(f"{fam.name} has a per-cycle DRAM bandwidth field")
        if fam.name in ("bitfusion", "cpu") or issubclass(fam.config_type, SkeletonConfig):
            assert "dram_bytes_per_s" in fields, fam.name


@pytest.mark.parametrize("preset", sorted(OLD_PRESET_KEYS))
def test_preset_bandwidth_is_the_papers_per_cycle_width_times_the_clock(preset):
    old_key, old_value = OLD_PRESET_KEYS[preset]
    cfg = load_hardware(preset)
    per_byte = 8 if old_key == "dram_bits_per_cycle" else 1
    assert cfg.dram_bytes_per_s == old_value / per_byte * cfg.frequency_hz


@given(skeleton_configs(), st.integers(1, 4096), st.integers(10**6, 5 * 10**9))
def test_bytes_per_cycle_reach_the_kernel_unchanged(cfg, per_cycle, hz):
    # The kernel reads bytes per cycle; a rate given as width x clock arrives bit for bit.
    new = cfg.replace(frequency_hz=float(hz), dram_bytes_per_s=per_cycle * hz)
    assert new.pack()[P_BW] == per_cycle


@given(st.integers(1, 1 << 20), st.integers(10**6, 5 * 10**9))
def test_bitfusion_bits_per_cycle_come_back_whole(bits, hz):
    cfg = load_hardware("bitfusion").replace(frequency_hz=float(hz), dram_bytes_per_s=bits * hz / 8)
    assert cfg.dram_bits_per_cycle == bits


@given(st.floats(1.0, 1 << 20), st.integers(10**6, 5 * 10**9))
def test_bitfusion_bandwidth_moves_whole_bits_rounded_down(bits, hz):
    cfg = load_hardware("bitfusion").replace(frequency_hz=float(hz), dram_bytes_per_s=bits * hz / 8)
    got = cfg.dram_bits_per_cycle
    assert isinstance(got, int)
    assert got - 1e-6 * bits <= bits < got + 1 + 1e-6 * bits


@pytest.mark.parametrize("preset", sorted(OLD_PRESET_KEYS))
def test_a_per_cycle_key_is_refused_naming_it(tmp_path, preset):
    from hwsim import HwsimError

    old_key, old_value = OLD_PRESET_KEYS[preset]
    family = load_hardware(preset).family
    with pytest.raises(HwsimError) as err:
        load_hardware(preset, **{old_key: old_value})
    assert err.value.field == f"{family}.{old_key}"
    text = resources.files("hwsim.hardware.presets").joinpath(f"{preset}.toml").read_text()
    old_text = re.sub(r"^dram_bytes_per_s = .*$", f"{old_key} = {old_value}", text, flags=re.M)
    assert old_text != text
    path = tmp_path / f"{preset}.toml"
    path.write_text(old_text)
    with pytest.raises(HwsimError) as err:
        load_hardware(path)
    assert err.value.field == f"{family}.{old_key}"


def test_presets_load_without_a_note():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        for name in preset_names():
            load_hardware(name)
