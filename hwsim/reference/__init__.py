"""Independent reference models: plain-Python and numpy transcriptions of the published
models and simulators, written from their descriptions rather than from hwsim's kernels.

The tests check hwsim against them and the benchmarks time hwsim against them; the package
itself never imports them. Modules: :mod:`~hwsim.reference.skeleton` (the spatial-array
skeleton, one point at a time), :mod:`~hwsim.reference.pricing` (CACTI table and node scaling
read by hand), :mod:`~hwsim.reference.bitfusion` (the public Bit Fusion simulator's tiling
search), :mod:`~hwsim.reference.dnnsim` (DNNsim's committed per-layer cycles beside hwsim's).
The reference data they read lives beside the tests (``TESTS_DATA``), so they run from a
checkout of the repository.
"""

from pathlib import Path

TESTS_DATA = Path(__file__).resolve().parents[2] / "tests" / "hwsim" / "hardware" / "data"
"""The committed reference data (DNNsim traces and cycles, the Bit Fusion simulator's sweep)."""
