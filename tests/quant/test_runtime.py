"""Run-time settings: a device is resolved against what this machine has, by name."""

import pytest
import torch

from hwsim import HwsimError
from quant.runtime import resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    for bad in ("tpu", "cuda:x", 3):
        with pytest.raises(HwsimError) as err:
            resolve_device(bad)
        assert err.value.field == "device"
    if not torch.cuda.is_available():
        with pytest.raises(HwsimError, match="not available"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(HwsimError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
