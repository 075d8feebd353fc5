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


# ------------------------------------------------------------------------------ import cycles
PACKAGES = ("hwsim", "models", "quant", "sweeps")

KNOWN_LAZY_CYCLES: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "hwsim.hardware",
            "hwsim.hardware.api",
            "hwsim.hardware.encodings",
            "hwsim.hardware.pricing",
            "hwsim.hardware.registry",
            "hwsim.hardware.report",
            "hwsim.hardware.skeleton",
            "hwsim.hardware.sram",
        }
    ),
)
"""Circles closed only by imports inside functions, there before this check: each may shrink
or go, none may grow, and no other may appear."""


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def module_imports(name: str, path: Path, known: dict[str, Path], lazy: bool) -> set[str]:
    """The modules of ``known`` that module ``name`` imports: at import time (top level, and
    inside top-level ``try`` / ``if`` blocks other than ``if TYPE_CHECKING``), or anywhere
    with ``lazy``. ``from package import module`` counts as the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    if lazy:
        nodes = list(ast.walk(tree))
    else:
        nodes, todo = [], list(tree.body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.Try):
                todo += node.body + node.orelse + node.finalbody
                todo += [s for h in node.handlers for s in h.body]
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    todo += node.body + node.orelse
            else:
                nodes.append(node)

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(filter(None, (owner(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.add(target if target in known else owner(source))
    found.discard(None)
    found.discard(name)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _graph(lazy: bool) -> dict[str, set[str]]:
    known = module_files(ROOT, PACKAGES)
    return {m: module_imports(m, p, known, lazy) for m, p in known.items()}


def test_no_import_cycles_at_import_time():
    assert import_cycles(_graph(lazy=False)) == []


def test_no_new_import_cycles_through_lazy_imports():
    grown = [
        sorted(c)
        for c in import_cycles(_graph(lazy=True))
        if not any(c <= k for k in KNOWN_LAZY_CYCLES)
    ]
    assert grown == []


def test_the_cycle_checker_finds_a_lazy_circle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import g\n")
    (pkg / "c.py").write_text("import pkg.a\ng = 1\n")
    known = module_files(tmp_path, ("pkg",))
    eager = {m: module_imports(m, p, known, lazy=False) for m, p in known.items()}
    lazy = {m: module_imports(m, p, known, lazy=True) for m, p in known.items()}
    assert eager["pkg.a"] == {"pkg.b"} and eager["pkg.b"] == set()
    assert import_cycles(eager) == []
    assert import_cycles(lazy) == [frozenset({"pkg.a", "pkg.b", "pkg.c"})]
