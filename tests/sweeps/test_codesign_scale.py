"""``hwsim codesign`` on the user's own checkpoint and image folder, on a chosen device, with
every stage kept in the run folder and a second run resuming from it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from hwsim import HwsimError
from sweeps.cli import main


def image_folder(root) -> None:
    """Three classes of 8x8 grey PNGs and JPEGs, each class its own brightness band."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("val", 4)):
        for c, name in enumerate(("dark", "mid", "light")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(80 * c, 80 * c + 60, (8, 8)).astype(np.uint8)
                suffix = "png" if i % 2 else "jpg"
                Image.fromarray(pixels, mode="L").save(folder / f"{i}.{suffix}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import models

    root = tmp_path_factory.mktemp("scale")
    image_folder(root / "images")
    torch.manual_seed(0)
    net = models.build("mlp_digits", num_classes=3)
    torch.save({"state_dict": net.state_dict(), "epoch": 1}, root / "ck.pt")
    return root


def args(root, out, *extra: str) -> list[str]:
    return [
        "codesign",
        "--model",
        "mlp_digits",
        "--data",
        f"imagefolder:{root / 'images'}",
        "--checkpoint",
        str(root / "ck.pt"),
        "--finetune-steps",
        "2",
        "--candidates",
        "2,4,8",
        "--budget",
        "latency=0.95",  # Stripes runs FC at batch 1 near bit-parallel speed
        "--samples",
        "20",
        "--calibration-batch",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
        *extra,
    ]


def test_checkpoint_and_folder_to_a_policy_then_resume(setup, monkeypatch, capsys):
    import quant.codesign.run as run_module
    from models.data import load_dataset
    from quant.baseline import load_checkpoint
    from quant.train import evaluate

    out = setup / "run"
    assert main(args(setup, out)) == 0
    err = capsys.readouterr().err
    stages = out / "stages"
    for name in ("config.json", "baseline.pt", "baseline.json", "sensitivity.npy", "search.json"):
        assert (stages / name).stat().st_size > 0, name
    tuned = sorted(stages.glob("finetune-*.json"))
    first = pd.read_csv(out / "results.csv")
    assert len(tuned) == len(first) == 6
    # the baseline is the checkpoint, evaluated on the folder's val split
    data = load_dataset(f"imagefolder:{setup / 'images'}", input_shape=(1, 8, 8))
    base = load_checkpoint(setup / "ck.pt", "mlp_digits", num_classes=3)
    recorded = json.loads((stages / "baseline.json").read_text())["accuracy"]
    assert recorded == pytest.approx(evaluate(base, data))
    # one line per stage on stderr; fine-tune lines estimate what is left
    assert "float baseline accuracy" in err and "s left" in err

    # A rerun recomputes nothing that is kept...
    def forbidden(*a, **k):
        raise AssertionError("recomputed a kept stage")

    monkeypatch.setattr("quant.search.sensitivity.layer_sensitivity", forbidden)
    monkeypatch.setattr("quant.baseline.pretrained", forbidden)
    calls = []
    real = run_module.finetuned_accuracy
    monkeypatch.setattr(
        run_module, "finetuned_accuracy", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    (stages / "finetune-4.json").unlink()
    assert main(args(setup, out)) == 0
    # ...and only what is missing: the one deleted policy
    assert len(calls) == 1
    again = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(again, first)


def test_a_different_config_is_refused_in_the_same_folder(setup, capsys):
    from quant.codesign import CodesignConfig
    from quant.codesign.stages import Stages

    out = setup / "other"
    config = CodesignConfig(model="mlp_digits", samples=10)
    assert not out.exists()  # nothing is written before the first stage...
    Stages(out, config).write_json("baseline.json", {"accuracy": 0.5})
    assert (out / "stages" / "config.json").is_file()  # ...which claims the folder
    Stages(out, CodesignConfig(model="mlp_digits", samples=10))
    with pytest.raises(HwsimError) as err:
        Stages(out, CodesignConfig(model="mlp_digits", samples=12))
    assert err.value.field == "out" and "['samples']" in err.value.reason
    assert main(args(setup, out)) == 2  # the CLI says so in one line
    assert "holds a run of another config" in capsys.readouterr().err


def test_hessian_sensitivity_from_the_cli(setup):
    out = setup / "hessian"
    assert main(args(setup, out, "--sensitivity", "hessian")) == 0
    table = np.load(out / "stages" / "sensitivity.npy")
    assert table.shape == (3, 3, 3) and np.all(table >= 0) and table[:, -1, -1].max() == 0


def test_no_cuda_is_named(setup, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(args(setup, setup / "nocuda", "--device", "cuda")) == 2
    assert "device='cuda': CUDA is not available" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
@pytest.mark.parametrize("method", ["knapsack", "ebs", "bsq"])
def test_cuda_runs_repeat_and_match_the_cpu_policy_shape(setup, method):
    runs = []
    for i in range(2):
        out = setup / f"cuda-{method}-{i}"
        extra = ("--device", "cuda", "--method", method, "--sensitivity", "hessian")
        assert main(args(setup, out, *extra)) == 0
        runs.append(pd.read_csv(out / "results.csv"))
    pd.testing.assert_frame_equal(runs[0], runs[1])  # same seed, same GPU: same run
    assert json.loads((out / "stages" / "baseline.json").read_text())["device"].startswith("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_cuda_model_exports_to_the_cpu_integer_model(setup):
    import models
    from hwsim import BitPolicy
    from quant.export import export
    from quant.model import quantize_model

    torch.manual_seed(0)
    net = models.build("mlp_digits").cuda()
    x = torch.rand(16, 1, 8, 8)
    policy = BitPolicy(dict.fromkeys(["fc1", "fc2", "fc3"], (4, 4)))
    q = quantize_model(net, policy, calibration=x)
    assert next(q.parameters()).is_cuda
    exported = export(q, x)
    assert exported.integer_model(x.numpy()).shape == (16, 10)


@pytest.mark.parametrize("field", ["threads", "processes"])
@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_threads_and_processes_are_validated_by_name(field, bad):
    from quant.runtime import RUNTIME_PARAMS, Runtime

    with pytest.raises(HwsimError) as err:
        Runtime(**{RUNTIME_PARAMS[field]: bad})
    assert err.value.field == field and err.value.value == bad
