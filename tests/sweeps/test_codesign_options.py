"""``hwsim codesign``'s options are the fields' own declarations: each option sets its field,
and the defaults are the dataclasses' defaults."""

from __future__ import annotations

import dataclasses

from quant.codesign import CodesignConfig
from quant.codesign.joint import JointConfig
from quant.options import OPTION
from quant.runtime import Runtime
from sweeps.cli import build_parser
from sweeps.commands.codesign import option_values


def _parse(*argv: str):
    return build_parser().parse_args(["codesign", *argv])


def test_no_option_gives_the_defaults():
    args = _parse()
    assert CodesignConfig(**option_values(args, CodesignConfig)) == CodesignConfig()
    assert Runtime(**option_values(args, Runtime)) == Runtime()


def test_each_option_sets_its_field():
    args = _parse(
        "--candidates", "2,8", "--budget", "latency=2ms", "--budget", "memory=0.5",
        "--seed", "4", "--hardware", "loom", "--workers", "2", "--processes", "3",
        "--threads", "2", "--device", "cpu", "--max-area", "1.5", "--finetune-top", "2",
    )  # fmt: skip
    assert CodesignConfig(**option_values(args, CodesignConfig)) == CodesignConfig(
        candidates=(2, 8), budgets={"latency": "2ms", "memory": 0.5}, seed=4, hardware="loom"
    )
    assert Runtime(**option_values(args, Runtime)) == Runtime(
        device="cpu", threads=2, loader_workers=2, scan_processes=3
    )
    joint = option_values(args, JointConfig)
    assert (joint["max_area"], joint["finetune_top"]) == (1.5, 2)


def test_every_declared_field_has_its_option():
    args = vars(_parse())
    for cls in (JointConfig, Runtime):
        for f in dataclasses.fields(cls):
            assert (OPTION in f.metadata) == (f.name in args), f.name
