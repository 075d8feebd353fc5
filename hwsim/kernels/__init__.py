"""Bit-exact bit-serial kernels on this CPU: integer matmul and conv2d by AND + popcount.

``bitserial_matmul`` / ``bitserial_conv2d`` take integer codes and return exact int64 results;
``pack_operand`` + ``bitserial_matmul_packed`` split packing from compute so weights are packed
once, as a deployment would. ``bitserial_act_matmul`` multiplies two activations (attention),
packing both per call. Operands are unsigned, signed (two's complement) or bipolar (+-1: XOR +
popcount). ``lut_linear`` runs low-bit weights against 8-bit activations by table lookup
(T-MAC's method) and ``vnni_linear`` by unpacking them to bytes for VNNI dot products;
``bitserial_linear`` picks the fastest for a few rows (GEMV).
"""

from hwsim.kernels.act import bitserial_act_matmul
from hwsim.kernels.conv import BitserialConv2d, bitserial_conv2d
from hwsim.kernels.gemm import (
    bitserial_linear,
    bitserial_matmul,
    bitserial_matmul_packed,
    plane_pair_coefficients,
)
from hwsim.kernels.lut import LutWeights, lut_linear, lut_weights
from hwsim.kernels.operand import PackedOperand, pack_operand
from hwsim.kernels.popcount import popcount
from hwsim.kernels.vnni import VnniWeights, vnni_linear, vnni_weights

__all__ = [
    "BitserialConv2d",
    "LutWeights",
    "PackedOperand",
    "VnniWeights",
    "bitserial_act_matmul",
    "bitserial_conv2d",
    "bitserial_linear",
    "bitserial_matmul",
    "bitserial_matmul_packed",
    "lut_linear",
    "lut_weights",
    "pack_operand",
    "plane_pair_coefficients",
    "popcount",
    "vnni_linear",
    "vnni_weights",
]
