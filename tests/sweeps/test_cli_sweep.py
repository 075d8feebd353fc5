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
