"""Training determinism and the baseline cache."""

import pytest
import torch

from hwsim import BitPolicy
from quant import baseline
from quant.baseline import pretrained
from quant.model import quantize_model
from quant.train import evaluate, train


class Tiny:
    """A dataset object of the shape ``train`` expects, from a fixed generator."""

    def __init__(self):
        g = torch.Generator().manual_seed(1)
        self.x_train = torch.rand(96, 1, 8, 8, generator=g)
        self.y_train = (self.x_train.mean(dim=(1, 2, 3)) > 0.5).long()
        self.x_test, self.y_test = self.x_train[:32], self.y_train[:32]


def _net():
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )


def test_same_seed_same_weights_and_hooks_run():
    data = Tiny()
    results = []
    for seed in (3, 3, 4):
        torch.manual_seed(123)
        model = quantize_model(
            _net(), BitPolicy({"1": (3, 3), "3": (4, 4)}), calibration=data.x_train
        )
        calls = {"step": 0, "epoch": []}

        def after_step(m, calls=calls):
            calls["step"] += 1

        def after_epoch(m, epoch, calls=calls):
            calls["epoch"].append(epoch)
            return epoch == 0  # rebuild the optimizer once

        losses = train(
            model,
            data,
            epochs=2,
            seed=seed,
            batch_size=32,
            after_step=after_step,
            after_epoch=after_epoch,
            regularizer=lambda m: 1e-3 * m[1].weight.pow(2).sum(),
        )
        assert calls == {"step": 6, "epoch": [0, 1]} and len(losses) == 2
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], results[2])


def test_baseline_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))
    data = Tiny()
    trained = []
    monkeypatch.setattr(
        baseline, "load_data", lambda name, seed=0, **_: trained.append(name) or data
    )
    first = pretrained("mlp_digits", "digits", seed=0, epochs=2)
    path = baseline.cache_path("mlp_digits", "digits", 0, 2)
    assert path.is_file() and path.parent.parent == tmp_path and trained == ["digits"]
    second = pretrained("mlp_digits", "digits", seed=0, epochs=2)
    assert trained == ["digits"]  # loaded, not retrained
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert evaluate(second, data) == evaluate(first, data)
    # A damaged cache file is retrained and replaced, not fatal.
    path.write_bytes(b"not a checkpoint")
    third = pretrained("mlp_digits", "digits", seed=0, epochs=2)
    assert trained == ["digits", "digits"]
    for a, b in zip(first.state_dict().values(), third.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_steps_replace_epochs_and_stop_mid_epoch():
    data = Tiny()  # 96 images: 3 batches of 32 per epoch
    steps = []
    torch.manual_seed(0)
    model = _net()
    losses = train(
        model, data, epochs=50, steps=5, batch_size=32, after_step=lambda m: steps.append(1)
    )
    assert len(steps) == 5 and len(losses) == 2
    # the first 5 steps of a longer run are the same 5 steps
    torch.manual_seed(0)
    longer = _net()
    seen = []

    def snapshot(m):
        seen.append([p.detach().clone() for p in m.parameters()])

    train(longer, data, epochs=3, batch_size=32, after_step=snapshot)
    for a, b in zip(model.parameters(), seen[4], strict=True):
        assert torch.equal(a.detach(), b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_cuda_training_is_repeatable_and_close_to_cpu():
    from quant.runtime import resolve_device

    data = Tiny()
    device = resolve_device("cuda")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _net().to(device)
        train(model, data, epochs=2, seed=1, batch_size=32)
        runs.append(torch.cat([p.detach().flatten().cpu() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])
    torch.manual_seed(0)
    cpu = _net()
    train(cpu, data, epochs=2, seed=1, batch_size=32)
    reference = torch.cat([p.detach().flatten() for p in cpu.parameters()])
    torch.testing.assert_close(runs[0], reference, rtol=1e-3, atol=1e-4)
    assert abs(evaluate(model, data) - evaluate(cpu, data)) <= 1 / 32  # one image at most


def test_cache_path_of_a_folder_spec_is_one_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))
    a = baseline.cache_path("resnet20", "cifar10:/data/a b/c", 0, 1)
    b = baseline.cache_path("resnet20", "cifar10:/data/other", 0, 1)
    assert a.parent == b.parent == tmp_path / "baselines" and a != b
    assert a.name.startswith("resnet20-cifar10-")
    assert baseline.cache_path("m", "digits", 0, 1).name.startswith("m-digits-seed0")


def test_checkpoint_in_every_saved_form_gives_the_same_network(tmp_path):
    import models

    torch.manual_seed(0)
    net = models.build("resnet_digits", num_classes=3)
    net.eval()
    x = torch.rand(5, 1, 8, 8)
    expected = net(x)
    state = net.state_dict()
    forms = {
        "plain.pt": state,
        "nested.pt": {"epoch": 7, "state_dict": {f"module.{k}": v for k, v in state.items()}},
        "whole.pt": net,
    }
    for name, obj in forms.items():
        torch.save(obj, tmp_path / name)
        loaded = baseline.load_checkpoint(tmp_path / name, "resnet_digits", num_classes=3)
        assert not loaded.training
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


def test_checkpoint_that_does_not_fit_is_named(tmp_path):
    import models
    from hwsim import HwsimError

    torch.save(models.build("mlp_digits").state_dict(), tmp_path / "mlp.pt")
    with pytest.raises(HwsimError, match="missing") as err:
        baseline.load_checkpoint(tmp_path / "mlp.pt", "resnet_digits")
    assert err.value.field == "checkpoint"
    with pytest.raises(HwsimError, match=r"fc3.weight \(10, 128\) != \(4, 128\)"):
        baseline.load_checkpoint(tmp_path / "mlp.pt", "mlp_digits", num_classes=4)
    (tmp_path / "junk.pt").write_bytes(b"definitely not torch")
    with pytest.raises(HwsimError, match=r"cannot be loaded|not a torch"):
        baseline.load_checkpoint(tmp_path / "junk.pt", "mlp_digits")
    torch.save({"lr": 0.1}, tmp_path / "opts.pt")
    with pytest.raises(HwsimError, match="expected a state_dict"):
        baseline.load_checkpoint(tmp_path / "opts.pt", "mlp_digits")
    with pytest.raises(HwsimError, match="no such file"):
        baseline.load_checkpoint(tmp_path / "absent.pt", "mlp_digits")


def test_baseline_training_logs_its_start_and_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(baseline, "LOG_EVERY_S", 0.0)  # every epoch, for the test
    lines: list[str] = []
    baseline.pretrained("mlp_digits", "digits", 0, 3, log=lines.append)
    assert lines[0] == "training the float baseline: 3 epoch(s) on cpu"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "float baseline: 1/3 epochs",
        "float baseline: 2/3 epochs",
    ]
    assert all(line.endswith(" s left") for line in lines[1:])
    lines.clear()
    baseline.pretrained("mlp_digits", "digits", 0, 3, log=lines.append)
    assert lines == []  # cached: nothing trains
