from toy_family import toy_spec

from sweeps.cli import main
from sweeps.store import load_results


def _write_spec(root) -> str:
    s = toy_spec()
    text = (
        f'name = "cli"\nseed = {s["seed"]}\nplugins = ["toy_family"]\n'
        'workloads = ["toynet.npz"]\n[objectives]\nlatency_s = "min"\nenergy_j = "min"\n'
        '[[hardware]]\nbase = "toy"\ngrid = { rows = [4, 8, 16], cols = [8, 16] }\n'
        "[policies]\nw_bits = [2, 8]\na_bits = [4, 8]\n"
    )
    (root / "spec.toml").write_text(text)
    return str(root / "spec.toml")


def test_sweep_then_pareto(toy_dir, capsys):
    spec = _write_spec(toy_dir)
    out = toy_dir / "out"
    assert main(["sweep", spec, "--out", str(out)]) == 0
    assert "24 points written" in capsys.readouterr().out
    assert main(["sweep", spec, "--out", str(out)]) == 0
    assert "0 points written" in capsys.readouterr().out
    assert len(load_results(out)) == 24
    assert main(["pareto", str(out), "--ref", "1", "1"]) == 0
    printed = capsys.readouterr().out
    assert "on the front" in printed
    # The front's hypervolume against a reference far above every point: area under the
    # staircase, checked by a plain sum of strips over the front.
    from sweeps.pareto import pareto

    df = load_results(out)
    front = pareto(df, ["latency_s", "energy_j"]).sort_values("latency_s")
    xs = [*front["latency_s"], 1.0]
    area = sum((xs[i + 1] - xs[i]) * (1.0 - e) for i, e in enumerate(front["energy_j"]))
    assert f"hypervolume to (1, 1): {area:.6g}" in printed
    assert (out / "pareto_latency_s_energy_j.png").stat().st_size > 1000


def test_bad_spec_is_a_clean_error(toy_dir, capsys):
    (toy_dir / "bad.toml").write_text('workloads = ["toynet.npz"]\nseed = -3\n')
    assert main(["sweep", str(toy_dir / "bad.toml"), "--out", str(toy_dir / "o")]) == 2
    assert "seed=-3" in capsys.readouterr().err


def test_failed_points_are_printed_and_exit_non_zero(toy_dir, capsys):
    text = (
        'name = "cli"\nseed = 1\nplugins = ["toy_family"]\nworkloads = ["toynet.npz"]\n'
        '[[hardware]]\nbase = "toy"\ngrid = { max_bits = [4, 16], rows = [4, 8] }\n'
        "[policies]\nw_bits = [2, 8]\na_bits = [4]\n"
    )
    (toy_dir / "spec.toml").write_text(text)
    out = toy_dir / "out"
    assert main(["sweep", str(toy_dir / "spec.toml"), "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "8 points written (2 failed)" in printed.out
    df = load_results(out)
    failed = df[df["status"] == "failed"]
    assert len(failed) == 2
    assert "2 point(s) failed:" in printed.err
    assert f"2 x {failed['message'].iloc[0]}" in printed.err
    assert "cannot run w_bits > 4" in printed.err
    assert f"points {', '.join(map(str, sorted(failed['point'])))}" in printed.err
    assert "--retry-failed" in printed.err
    # A resume still reports the stored failures and still exits 1.
    assert main(["sweep", str(toy_dir / "spec.toml"), "--out", str(out)]) == 1
    assert "2 point(s) failed (2 stored by an earlier run):" in capsys.readouterr().err
    # --retry-failed evaluates them again (the cause is not fixed: they fail again, once each).
    args = ["sweep", str(toy_dir / "spec.toml"), "--out", str(out), "--retry-failed"]
    assert main(args) == 1
    assert "2 points written (2 failed, 2 failed points retried)" in capsys.readouterr().out
    again = load_results(out)
    assert len(again) == 8 and again["point_hash"].is_unique


def test_unknown_trainer_and_params_key_are_refused_before_any_work(toy_dir, capsys):
    base = 'name = "t"\nworkloads = ["toynet.npz"]\n[[hardware]]\nbase = "stripes"\n'
    (toy_dir / "a.toml").write_text(base + '[[train]]\nmethod = "nosuch"\nworkload = "toynet"\n')
    (toy_dir / "b.toml").write_text(
        base + '[[train]]\nmethod = "codesign"\nworkload = "toynet"\nparams = { epochz = 2 }\n'
    )
    for name, expect in (("a", "train.method='nosuch'"), ("b", "train.params.epochz=2")):
        out = toy_dir / f"out_{name}"
        assert main(["sweep", str(toy_dir / f"{name}.toml"), "--out", str(out)]) == 2
        assert expect in capsys.readouterr().err
        assert not out.exists()  # refused before the results folder was even made
