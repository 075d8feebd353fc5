"""One unit per quantity: DRAM bandwidth is bytes per second in every family, and the old
per-cycle keys (``dram_bytes_per_cycle``, Bit Fusion's ``dram_bits_per_cycle``) are still read,
converted with the clock, to numerically the same model."""

import re
import warnings
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import BitPolicy, Workload
from hwsim.hardware import families, load_hardware, preset_names, simulate
from hwsim.hardware.skeleton import P_BW, SkeletonConfig
from tests.strategies import skeleton_configs

# The presets' bandwidths as they were given before the unit change (the paper/code values).
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
def test_old_key_in_toml_gives_the_same_config_and_costs(tmp_path, preset):
    old_key, old_value = OLD_PRESET_KEYS[preset]
    text = resources.files("hwsim.hardware.presets").joinpath(f"{preset}.toml").read_text()
    old_text = re.sub(r"^dram_bytes_per_s = .*$", f"{old_key} = {old_value}", text, flags=re.M)
    assert old_text != text
    path = tmp_path / f"{preset}.toml"
    path.write_text(old_text)
    with pytest.warns(FutureWarning, match=old_key):
        old = load_hardware(path)
    new = load_hardware(preset)
    assert old == new
    pol = BitPolicy.uniform(SMALL, 8, 8)
    a = simulate(SMALL, pol, old).totals
    b = simulate(SMALL, pol, new).totals
    assert a == b


@given(skeleton_configs(), st.integers(1, 4096), st.integers(10**6, 5 * 10**9))
def test_old_bytes_per_cycle_reach_the_kernel_unchanged(cfg, per_cycle, hz):
    # The kernel reads bytes per cycle; given the old way, that value arrives bit for bit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = cfg.replace(frequency_hz=float(hz), dram_bytes_per_cycle=per_cycle)
    assert old.dram_bytes_per_s == per_cycle * hz
    assert old.pack()[P_BW] == per_cycle


@given(st.integers(1, 1 << 20), st.integers(10**6, 5 * 10**9))
def test_old_bitfusion_bits_per_cycle_come_back_whole(bits, hz):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        cfg = load_hardware("bitfusion").replace(frequency_hz=float(hz), dram_bits_per_cycle=bits)
    assert cfg.dram_bits_per_cycle == bits


@given(st.floats(1.0, 1 << 20), st.integers(10**6, 5 * 10**9))
def test_bitfusion_bandwidth_moves_whole_bits_rounded_down(bits, hz):
    cfg = load_hardware("bitfusion").replace(frequency_hz=float(hz), dram_bytes_per_s=bits * hz / 8)
    got = cfg.dram_bits_per_cycle
    assert isinstance(got, int)
    assert got - 1e-6 * bits <= bits < got + 1 + 1e-6 * bits


def test_old_and_new_key_together_are_refused():
    from hwsim import HwsimError

    with pytest.raises(HwsimError) as err:
        load_hardware("stripes", dram_bytes_per_cycle=8, dram_bytes_per_s=1e9)
    assert err.value.field == "stripes.dram_bytes_per_cycle"


def test_presets_load_without_a_note():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        for name in preset_names():
            load_hardware(name)
