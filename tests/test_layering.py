"""The package layering holds: hwsim (torch-free) <- models <- quant <- sweeps.

Every module's imports are read with ``ast`` (top level and inside functions, since lazy
imports are still dependencies), and importing ``hwsim`` in a fresh interpreter must not load
torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "hwsim": {"torch", "models", "quant", "sweeps"},
    "models": {"quant", "sweeps"},
    "quant": {"sweeps"},
}


def imported_packages(path: Path, package: str) -> set[str]:
    """Top-level names of every package ``path`` imports (relative imports stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.add(package)
            elif node.module:
                found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    files = modules(package)
    assert files, f"no modules found under {package}/"
    bad = {
        str(f.relative_to(ROOT)): sorted(imported_packages(f, package) & FORBIDDEN[package])
        for f in files
    }
    assert not {f: b for f, b in bad.items() if b}


def test_the_checker_sees_lazy_and_dotted_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import numpy as np\n"
        "def f():\n"
        "    import torch.nn\n"
        "    from quant.model import x\n"
        "    from . import sibling\n"
    )
    assert imported_packages(src, "hwsim") == {"numpy", "torch", "quant", "hwsim"}


def test_importing_hwsim_does_not_load_torch():
    code = (
        "import sys, hwsim, hwsim.hardware, hwsim.bits, hwsim.policy, hwsim.workload\n"
        "hwsim.cost_table\n"  # a lazy attribute: loads the cost models
        "bad = sorted(m for m in ('torch', 'models', 'quant', 'sweeps') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
