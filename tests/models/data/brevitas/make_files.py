"""Regenerate the Brevitas-exported ONNX files the import tests read.

Run: ``python tests/models/data/brevitas/make_files.py`` (needs ``pip install -e '.[brevitas]'``).

Each network is exported by Brevitas itself, with its QONNX exporter (``Quant`` /
``BipolarQuant`` / ``Trunc`` nodes) and, where Brevitas supports it (not for 1-bit), its QCDQ
exporter (``QuantizeLinear -> Clip -> DequantizeLinear``). The graphs are kept as exported;
only the float weights of large initializers are set to zero and the file gzipped, so the
files stay a few kilobytes (the import reads shapes and quantizer constants, never weights).
Random initial weights, no training: the bits are what the tests read.

The networks:

- FINN's CNV and TFC (``brevitas_examples.bnn_pynq``) at 1 and 2 bits (w1a1, w2a2);
- ``mixed``: a CNN with a different width per layer (8-bit input, 4/3/2/5/6 bits after),
  a strided conv, a grouped conv, a depthwise conv, a ``TruncAvgPool2d`` head and a linear
  classifier;
- ``residual``: a residual block with per-channel weight scales (4-bit weights, 3-bit
  activations, a 1x1 strided shortcut) and a global max pool (``AdaptiveMaxPool2d``).
"""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (w_bits, a_bits) of each compute layer in graph order, what the tests expect.
EXPECTED: dict[str, list[tuple[int, int]]] = {}


def mixed_net():
    import brevitas.nn as qnn
    import torch.nn as nn
    from brevitas.quant import Int8ActPerTensorFloat

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(3, 16, 3, padding=1, weight_bit_width=4)
            self.act1 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(16, 16, 3, stride=2, padding=1, weight_bit_width=3)
            self.act2 = qnn.QuantReLU(bit_width=3, return_quant_tensor=True)
            self.conv3 = qnn.QuantConv2d(16, 32, 3, padding=1, groups=4, weight_bit_width=2)
            self.act3 = qnn.QuantReLU(bit_width=5, return_quant_tensor=True)
            self.conv4 = qnn.QuantConv2d(32, 32, 3, padding=1, groups=32, weight_bit_width=6)
            self.act4 = qnn.QuantReLU(bit_width=6, return_quant_tensor=True)
            self.pool = qnn.TruncAvgPool2d(
                kernel_size=16, bit_width=8, float_to_int_impl_type="floor"
            )
            self.fc = qnn.QuantLinear(32, 10, bias=False, weight_bit_width=5)

        def forward(self, x):
            x = self.act1(self.conv1(self.inp(x)))
            x = self.act2(self.conv2(x))
            x = self.act3(self.conv3(x))
            x = self.act4(self.conv4(x))
            x = self.pool(x)
            return self.fc(x.flatten(1))

    return Mixed()


def residual_net():
    import brevitas.nn as qnn
    import torch.nn as nn
    from brevitas.quant import Int8ActPerTensorFloat

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            per_ch = {"weight_bit_width": 4, "weight_scaling_per_output_channel": True}
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(3, 16, 3, stride=2, padding=1, **per_ch)
            self.act1 = qnn.QuantReLU(bit_width=3, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(16, 16, 3, padding=1, **per_ch)
            self.short = qnn.QuantConv2d(3, 16, 1, stride=2, **per_ch)
            self.add_q = qnn.QuantIdentity(bit_width=3, return_quant_tensor=True)
            self.act2 = qnn.QuantReLU(bit_width=3, return_quant_tensor=True)
            self.pool = nn.AdaptiveMaxPool2d(1)
            self.fc = qnn.QuantLinear(16, 10, bias=False, **per_ch)

        def forward(self, x):
            x = self.inp(x)
            y = self.conv2(self.act1(self.conv1(x)))
            z = self.act2(self.add_q(y) + self.add_q(self.short(x)))
            return self.fc(self.pool(z).flatten(1))

    return Residual()


def networks():
    from brevitas_examples.bnn_pynq.models import cnv_1w1a, cnv_2w2a, tfc_1w1a, tfc_2w2a

    return {
        "cnv_w1a1": (lambda: cnv_1w1a(pretrained=False), (1, 3, 32, 32), False),
        "cnv_w2a2": (lambda: cnv_2w2a(pretrained=False), (1, 3, 32, 32), True),
        "tfc_w1a1": (lambda: tfc_1w1a(pretrained=False), (1, 1, 28, 28), False),
        "tfc_w2a2": (lambda: tfc_2w2a(pretrained=False), (1, 1, 28, 28), True),
        "mixed": (mixed_net, (1, 3, 32, 32), True),
        "residual": (residual_net, (1, 3, 32, 32), True),
    }


def shrink(path: Path, out: Path) -> None:
    """Zero the float data of initializers over 256 elements, save in one gzipped file."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for i, t in enumerate(model.graph.initializer):
        arr = numpy_helper.to_array(t)
        if arr.size > 256 and arr.dtype.kind == "f":
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.zeros_like(arr), t.name))
    out.write_bytes(gzip.compress(model.SerializeToString(), mtime=0))


def main() -> None:
    import tempfile

    import torch
    from brevitas.export import export_onnx_qcdq, export_qonnx

    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    only = set(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, shape, qcdq) in networks().items():
            if only and name not in only:
                continue
            net = build().eval()
            x = torch.randn(shape)
            exporters = [("qonnx", export_qonnx)] + ([("qcdq", export_onnx_qcdq)] if qcdq else [])
            for kind, export in exporters:
                raw = Path(tmp) / f"{name}_{kind}.onnx"
                export(net, x, str(raw))
                shrink(raw, HERE / f"{name}_{kind}.onnx.gz")
                print(f"wrote {name}_{kind}.onnx.gz")


if __name__ == "__main__":
    main()
