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


def test_runtime_reads_the_users_names_and_checks_each():
    from quant.runtime import Runtime

    params = {"device": "cpu", "workers": 2, "threads": 3, "processes": 4, "epochs": 1}
    runtime, rest = Runtime.from_params(params)
    assert runtime == Runtime(device="cpu", threads=3, loader_workers=2, scan_processes=4)
    assert rest == {"epochs": 1}
    assert runtime.as_params() == {k: v for k, v in params.items() if k != "epochs"}
    assert Runtime.from_params({}) == (Runtime(), {})
    for name, bad in (("device", "tpu"), ("workers", -1), ("threads", 0), ("processes", 0)):
        with pytest.raises(HwsimError) as err:
            Runtime.from_params({name: bad})
        assert err.value.field == name and err.value.value == bad


def test_applied_sets_the_torch_threads_inside_the_block_only():
    from quant.runtime import Runtime, default_torch_threads

    before = default_torch_threads()
    with Runtime(threads=before + 1).applied():
        assert default_torch_threads() == before + 1
    assert default_torch_threads() == before
