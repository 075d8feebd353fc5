import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # spawned workers and subprocesses import toy_family by name
    sys.path.insert(0, str(HERE))

import toy_family  # noqa: E402


@pytest.fixture
def toy_dir(tmp_path):
    """A folder holding a saved toy workload ``toynet.npz``."""
    toy_family.toy_workload().save(tmp_path / "toynet.npz")
    return tmp_path
