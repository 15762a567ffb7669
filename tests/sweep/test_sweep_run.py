"""A real sweep: real builds through the gate, real onnxruntime runs, the estimate power source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.bench.settings import BenchSettings
from edgekit.commands.main import main
from edgekit.sweep.choose import Floors
from edgekit.sweep.render import build_table, html_page, text_lines
from edgekit.sweep.run import run_sweep

REPO = Path(__file__).resolve().parents[2]
MLP, CNN = REPO / "models" / "digits_mlp.onnx", REPO / "models" / "digits_cnn.onnx"
CALIB, EVAL = REPO / "models" / "digits_calib.npz", REPO / "models" / "digits_eval.npz"
FAST = BenchSettings(duration_s=0.3, warmup_s=0.05, idle_s=0.2, power="estimate")


def test_a_failed_gate_is_listed_and_never_benchmarked(tmp_path):
    # int8 changes one of the 450 eval predictions of the MLP: an agreement floor of 1.0 fails it
    sweep = run_sweep([MLP], "rpi5", precisions=["fp32", "int8"], out_dir=tmp_path, calibration=[CALIB],
                      eval_data=[EVAL], settings=FAST, rounds=2, tolerances={"min_top1_agreement": 1.0},
                      cache_dir=tmp_path / "cache")
    by = {r.key: r for r in sweep.runs}
    assert by["digits_mlp/int8"].results == [] and "accuracy gate" in by["digits_mlp/int8"].gate_reason
    assert len(by["digits_mlp/fp32"].results) == 2 and sweep.order == [["digits_mlp/fp32"]] * 2
    table = build_table(sweep, Floors())
    rows = {r["variant"]: r for r in table.rows}
    assert rows["digits_mlp/int8"]["gate"] == "failed" and rows["digits_mlp/int8"]["p50_ms"] is None
    assert table.recommendation.choice.key == "digits_mlp/fp32"
    assert rows["digits_mlp/fp32"]["energy_net_mj"] < rows["digits_mlp/fp32"]["energy_total_mj"]
    assert any("ESTIMATE" in n for n in table.notes)
    assert "<svg" in html_page(table, "t") and "recommended:" in "\n".join(text_lines(table))


def test_two_models_alternate_and_the_json_has_one_row_per_variant(tmp_path, capsys):
    out = tmp_path / "sweep"
    page = tmp_path / "s.html"
    rc = main(["sweep", str(CNN), str(MLP), "--target", "rpi5", "--precisions", "fp32,int8",
               "--calibration", str(CALIB), "--eval", str(EVAL), "--duration", "0.3", "--idle", "0.2",
               "--power", "estimate", "--out", str(out), "--html", str(page), "--json",
               "--max-accuracy-drop", "1.0"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in doc["rows"]] == ["digits_cnn/fp32", "digits_cnn/int8", "digits_mlp/fp32",
                                                   "digits_mlp/int8"]
    # the MLP is 2.4 points below the CNN's fp32 accuracy: the 1-point floor leaves only CNN variants
    assert doc["recommendation"]["variant"].startswith("digits_cnn/")
    assert "digits_mlp/fp32" in doc["recommendation"]["excluded"]
    assert json.loads((out / "sweep.json").read_text())["rows"] == doc["rows"]
    assert page.read_text().startswith("<!doctype html>")


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["sweep", str(tmp_path / "missing.onnx"), "--target", "rpi5", "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.onnx: model file not found" in err
    assert main(["sweep", str(MLP), "--target", "rpi5", "--eval", str(EVAL), "--eval", str(EVAL),
                 "--out", str(out)]) != 0
    assert "--eval given 2 times for 1 models" in capsys.readouterr().err
    assert main(["sweep", str(MLP), "--target", "rpi5", "--region", "XX", "--out", str(out)]) != 0
    assert not out.exists()


@pytest.mark.parametrize("bad", [["--duration", "0"], ["--precisions", "int2"]])
def test_bad_settings_are_refused(tmp_path, capsys, bad):
    assert main(["sweep", str(MLP), "--target", "rpi5", "--out", str(tmp_path / "o"), *bad]) != 0
    assert not (tmp_path / "o").exists()
