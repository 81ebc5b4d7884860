"""`rankbottleneck figures --quick`: every file written, and the data say what
the figures claim."""

import csv
import json
import math
import types

import pytest

from rankbottleneck import cli

EXPECTED = ["argmax_cones", "argmaxable_vs_dim", "expressivity", "extended_logits",
            "gss_grid", "head_cost", "hidden_size_recovery", "mos_rank_vs_components",
            "noise_fragility", "output_image", "output_set_geometry", "output_set_table",
            "plif_nominal_vs_effective",
            "rank_vs_dim", "rank_vs_logit_scale", "real_lm", "sparsity", "spectra",
            "topk_realizable"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert cli.main(["figures", "--quick", "--out", str(out)]) == 0
    return out


def rows(out, name):
    with open(out / f"{name}.csv") as fh:
        return list(csv.DictReader(fh))


def data(out, name):
    return json.loads((out / f"{name}.json").read_text())


def test_every_figure_is_written(quick):
    assert sorted(cli._analyses()) == EXPECTED
    for name in EXPECTED:
        for ext in ("png", "pdf", "json"):
            assert (quick / f"{name}.{ext}").stat().st_size > 0, (name, ext)
        data(quick, name)  # parses
    assert not list(quick.glob(".*")), "temporary files left behind"


def test_real_lm_has_its_cliff_at_d_plus_one(quick):
    # a real model: SmolLM2-135M's own log-probabilities on real text
    r = data(quick, "real_lm")
    assert r["d"] == 576 and r["V"] == 49152 and r["logit_error"] < 1e-3
    assert r["ranks"]["softmax"] == {"numpy": 577, "press": 577}
    assert r["ranks"]["sigsoftmax"]["press"] == r["N"]
    last = rows(quick, "real_lm")[-1]
    assert int(last["n"]) == r["N"] and int(last["hidden_size"]) == 576


def test_extended_logits_isan_cliff_kl_bound_and_lingen(quick):
    # the ISAN's exact cliff at d + 1; every truncation KL under its bound;
    # the real models' power laws and LINGEN's curves all present
    r = data(quick, "extended_logits")
    assert r["isan"]["press_rank"] == r["isan"]["d"] + 1
    for name in ("trained", "random init", "ISAN"):
        assert math.isfinite(r["power_law"][name]["alpha"])
        kl = r["truncation_kl"][name]
        assert all(k <= b * (1 + 1e-9) + 1e-15 for k, b in zip(kl["kl"], kl["bound"]))
    isan = r["truncation_kl"]["ISAN"]
    assert isan["kl"][isan["ranks"].index(r["isan"]["d"] + 1)] < 1e-12
    tokens = r["H"] * r["history_len"] + r["H"] * r["F"] * r["future_len"]
    assert r["n_tokens_run"] == {"trained": tokens, "random init": tokens}
    curves = r["lingen"]["cumulative_kl"]
    assert set(curves) == {f"{m}, {f} futures" for m in ("trained", "random init")
                           for f in ("text", "nonsense")}
    for entry in curves.values():
        assert len(entry["LINGEN"]) == r["lingen"]["steps"]
        assert {"last 1 token", "last 4 tokens"} <= set(entry)
    assert {row["model"] for row in rows(quick, "extended_logits")} == {
        "trained", "random init", "ISAN"}


def test_head_cost_on_smollm2(quick):
    r = data(quick, "head_cost")
    assert r["d"] == 576 and r["vocabulary"] == 49152
    soft, cen = r["losses"]["softmax"], r["losses"]["softmax, re-centred"]
    assert soft["ranks"][-1] == 576 and soft["loss"][-1] == soft["full_loss"]
    assert abs(cen["full_loss"] - soft["full_loss"]) < 1e-5     # W either way at r = d
    assert soft["loss"][0] > soft["full_loss"] + 1
    g = r["gradient"]
    assert g["random"] == 1 - 576 / 49152 and 0.9 < g["mean"] < 1
    cap = r["capacity"]
    for res in (cap, cap["gaussian"]):
        assert [h + f + u for h, f, u in zip(res["holds"], res["fails"],
                                             res["undecided"])] == [res["n_sets"]] * 3
    rows_ = rows(quick, "head_cost")
    assert [int(x["rank"]) for x in rows_] == soft["ranks"]


def test_output_image_tells_members_edits_and_recovers(quick):
    # SmolLM2-135M: its own held-out outputs in its image, the others not;
    # the inner and the norm edit keep the image, the ellipse tells the norm
    r = data(quick, "output_image")
    assert r["image_d"] == r["d"] == 576 and r["V"] == 49152
    assert r["auc"]["head + 1% noise"] == r["auc"]["random init"] == 1.0
    assert r["separated"]["head + 1% noise"] and r["separated"]["random init"]
    v = r["verdicts"]
    assert v["rank-8 MLP edit"]["verdict"] == "same image, different outputs"
    assert v["rank-8 MLP edit"]["change"] == "inside the network"
    assert v["final norm edit"]["change"] == "final norm"
    assert r["own_ellipse"]["holds"]
    for row in r["recovery"]:
        assert row["calls_image"] <= row["calls_bound"]
        assert row["calls_token_by_token"] == 1 + math.ceil((49152 - row["k"])
                                                             / (row["k"] - 1))
        assert row["relative_error"] < 1e-5
    assert {x["outputs"] for x in rows(quick, "output_image")} >= {
        "members", "random init"}


def test_spectra_softmax_is_pinned_at_d_plus_one(quick):
    r = {row["name"]: row for row in rows(quick, "spectra")}
    d = data(quick, "spectra")["setting"]["d"]
    assert int(r["softmax"]["press"]) == d + 1
    assert int(r["softmax+bias"]["press"]) == d + 2
    assert int(r["MoC K=3"]["press"]) == d + 1
    assert int(r["sigsoftmax"]["press"]) > d + 2
    assert r["sparsemax"]["clipped_at_log_floor"] == "True"


def test_rank_vs_dim_and_logit_scale(quick):
    for row in rows(quick, "rank_vs_dim"):
        if row["activation"] == "softmax":
            assert int(row["numpy"]) == int(row["d"]) + 1
    d = data(quick, "rank_vs_logit_scale")["d"]
    for row in rows(quick, "rank_vs_logit_scale"):
        if row["activation"] == "softmax":
            assert int(row["press"]) == d + 1


def test_noise_fragility_pattern(quick):
    r = rows(quick, "noise_fragility")
    assert int(r[0]["press"]) == 10 and int(r[-1]["press"]) > 100
    assert all(int(x["effective(1e-05)"]) == 10 for x in r)


def test_mixtures_gss_plif(quick):
    mos = rows(quick, "mos_rank_vs_components")
    d = data(quick, "mos_rank_vs_components")["d"]
    assert int(mos[0]["press"]) == d + 1          # K = 1 is a softmax
    gss = data(quick, "gss_grid")
    assert all(r["press"] == gss["d"] + 1 for r in gss["rows"] if r["k"] == 1.0)
    plif = data(quick, "plif_nominal_vs_effective")
    for r in plif["rows"]:
        if r["slope_spread"] == 0.0:
            assert r["press"] == plif["d"] + 1
        else:
            assert r["effective(1e-03)"] <= r["press"]


def test_output_sets(quick):
    for r in rows(quick, "output_set_table"):
        if r["activation"] == "softmax":
            assert int(r["linear_span"]) == int(r["d"]) + 1
            assert int(r["affine_span"]) == int(r["d"]) + 1
        assert int(r["local_dimension"]) <= int(r["d"])
    geo = data(quick, "output_set_geometry")["off_plane_d1"]
    assert geo["softmax"] < 1e-12 < geo["sigsoftmax"]


def test_argmax_figures(quick):
    cones = data(quick, "argmax_cones")
    assert cones["argmaxable"] == [True] * 6 + [False] * 2
    assert cones["words_winning_somewhere_on_grid"] == list(range(6))
    for r in rows(quick, "argmaxable_vs_dim"):
        assert int(r["undecided"]) == 0
        if r["kind"] == "unit" and r["bias"] == "False":
            assert float(r["fraction_argmaxable"]) == 1.0


def test_hidden_size_sparsity_expressivity(quick):
    for r in rows(quick, "hidden_size_recovery"):
        if int(r["rows_minus_d"]) >= 20:
            assert float(r["success_rate"]) == 1.0
    for r in rows(quick, "sparsity"):
        if r["activation"] == "r-softmax":
            assert abs(float(r["support_fraction"]) - (1 - float(r["r"]))) < 0.02
    kinds = {r["activation"] for r in rows(quick, "expressivity")}
    assert {"softmax", "mos", "plif"} <= kinds


def test_same_seed_same_bytes(quick, tmp_path):
    # a second run of three figures reproduces the quick run's files byte for
    # byte (timings stay in the log, never in the data)
    names = ("argmax_cones", "argmaxable_vs_dim", "spectra")
    assert cli.main(["figures", "--quick", "--only", *names,
                     "--out", str(tmp_path)]) == 0
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (quick / path.name).read_bytes(), path.name
    assert len(list(tmp_path.iterdir())) == 11   # no CSV for argmax_cones
    assert "seconds" not in (tmp_path / "argmaxable_vs_dim.csv").read_text()


def test_bad_names_and_folders(tmp_path, capsys):
    assert cli.main(["figures", "--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--only must name analyses from" in err and "'spectra'" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["figures", "--only", "spectra", "--out",
                     str(blocker / "sub")]) == 2
    assert "is not a writable folder" in capsys.readouterr().err


def test_interruption_is_one_line_and_leaves_no_files(tmp_path, capsys, monkeypatch):
    def interrupted(out_dir, quick=False, seed=0):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load", lambda path: types.SimpleNamespace(
        main=interrupted, __doc__="x"))
    assert cli.main(["figures", "--only", "spectra", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted during spectra" in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Everyday use of the command line
# ---------------------------------------------------------------------------


def test_quick_runs_never_land_on_the_full_figures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["figures", "--quick", "--only", "argmax_cones"]) == 0
    assert (tmp_path / "figures-quick" / "argmax_cones.png").exists()
    assert not (tmp_path / "figures").exists()


def test_written_files_follow_the_umask(tmp_path):
    import os

    from rankbottleneck._output import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_list_into_a_closed_pipe_is_quiet():
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m rankbottleneck figures --list | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 1 and "Broken pipe" not in done.stderr
    assert "Traceback" not in done.stderr


def test_figures_work_from_a_non_editable_install(tmp_path):
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(cli.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").exists():
        pytest.skip("not run from a source checkout")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(root)],
                   check=True, capture_output=True, timeout=600)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "rankbottleneck", "figures", "--quick",
                           "--only", "argmax_cones"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "figures-quick" / "argmax_cones.png").exists()


def test_topk_realizable(quick):
    r = data(quick, "topk_realizable")["rows"]
    by = {(x["kind"], x["d"], x["bias"], x["question"], x["k"]): x for x in r}
    for (kind, d, bias, question, k), x in by.items():
        assert x["softmax_undecided"] == 0
        assert 0 <= x["mos_beyond_softmax"] <= x["mos_seen"] <= x["n_total"]
        # a linear map of the same draws realises the same sets
        g = by[("gaussian", d, bias, question, k)]
        assert x["softmax_realizable"] == g["softmax_realizable"]
        if question == "order":
            sets = by[(kind, d, bias, "set", k)]["softmax_realizable"]
            assert sets <= x["softmax_realizable"] <= math.factorial(k) * sets
