"""Atomic writes leave complete files with the permissions the user's umask asks for; the TOML
writer's text reads back with tomllib."""

import os
import stat
import tomllib

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim.io import atomic_write_bytes, atomic_write_text, new_file_mode, toml_text
from sweeps.store import write_part


@pytest.fixture(params=[0o022, 0o077, 0o002, 0o000])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_the_mode_open_would_give(tmp_path, umask):
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:  # what any other program's new file gets
        f.write("x")
    assert _mode(plain) == 0o666 & ~umask
    assert new_file_mode() == 0o666 & ~umask
    text = atomic_write_text(tmp_path / "sub" / "report.md", "hello\n")
    data = atomic_write_bytes(tmp_path / "table.csv", b"a,b\n1,2\n")
    part = write_part(tmp_path, pd.DataFrame({"point_hash": [1, 2], "v": [0.5, 1.5]}))
    for path in (text, data, part):
        assert _mode(path) == _mode(plain), path
    assert text.read_text() == "hello\n"
    assert data.read_bytes() == b"a,b\n1,2\n"
    assert pd.read_parquet(part)["v"].tolist() == [0.5, 1.5]
    # no temp file left behind
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_overwrite_replaces_the_content(tmp_path):
    path = atomic_write_text(tmp_path / "a.json", "1")
    atomic_write_text(path, "2")
    assert path.read_text() == "2"


_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"))),
)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(lambda k: k != "sources"),
        st.one_of(_scalars, st.lists(st.floats(allow_nan=False), max_size=4)),
        max_size=8,
    ),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"))),
)
def test_toml_text_reads_back_with_tomllib(values, source):
    sources = {k: source for k in values}
    data = tomllib.loads(toml_text(values, sources, comment="a comment"))
    assert data.pop("sources", {}) == sources
    assert data == values
