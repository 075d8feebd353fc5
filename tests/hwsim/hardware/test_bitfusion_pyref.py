"""The plain-Python transcription of the public Bit Fusion simulator
(:mod:`hwsim.reference.bitfusion`) against the reference's published per-layer numbers."""

from __future__ import annotations

import pytest

from hwsim.reference.bitfusion import BF_E, REFERENCE_LAYERS, reference_rows, search


@pytest.mark.parametrize("network,layer", [("SVHN", "fc8"), ("LeNet-5", "fc2"), ("CIFAR10", "fc8")])
def test_transcription_matches_published_rows(network: str, layer: str) -> None:
    row = next(r for r in reference_rows() if r["network"] == network and r["layer"] == layer)
    got = search(BF_E, REFERENCE_LAYERS[network][layer])
    assert got["cycles"] == row["cycles"]
    assert got["stall"] == row["stall_cycles"]
    assert got["reads"]["dram"] == row["dram_read"]
    assert got["writes"]["dram"] == row["dram_write"]
    assert got["reads"]["wgt"] == row["wbuf_read"]
    assert got["writes"]["out"] == row["obuf_write"]
