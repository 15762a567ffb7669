"""Target profiles: the shipped TOML files, their validation and `edgekit targets`."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgekit.commands.main import main
from edgekit.errors import ConfigError
from edgekit.targets import (
    ALIASES,
    DEFAULT_TARGETS_DIR,
    list_targets,
    load_target,
    load_target_file,
    resolve_name,
)

REQUIRED = {
    "jetson-orin-nano",
    "jetson-orin-nx",
    "jetson-agx-orin",
    "jetson-nano",
    "rpi5",
    "rpi4",
    "android-arm64",
    "ios-arm64",
}
SHIPPED = sorted(DEFAULT_TARGETS_DIR.glob("*.toml"))
REPO_ROOT = DEFAULT_TARGETS_DIR.parent


# --- helpers ---------------------------------------------------------------------------------


def shipped_text(name: str) -> str:
    return (DEFAULT_TARGETS_DIR / f"{name}.toml").read_text(encoding="utf-8")


def edited(text: str, old: str, new: str) -> str:
    """Replace one exact line fragment; fail loudly if the profile no longer contains it."""
    assert text.count(old) == 1, f"fixture drift: {old!r} not found exactly once"
    return text.replace(old, new)


def write_profile(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def tiny_model(ir_version: int, opset: int) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --- the shipped profiles ------------------------------------------------------------------


def test_every_required_profile_is_shipped():
    assert REQUIRED <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profile_loads_and_is_consistent(path):
    t = load_target_file(path)
    assert t.name == path.stem
    assert t.preferred_precisions[0] in t.precisions
    assert t.default_budget_w > 0
    assert 0 <= t.estimate.idle_w <= t.estimate.max_w
    assert t.execution_providers[-1] == "CPUExecutionProvider", "CPU must be the last fallback"
    if t.thermal_critical_c is not None:
        assert t.thermal_critical_c >= t.thermal_limit_c


def test_list_targets_returns_all_shipped_profiles_sorted():
    names = [t.name for t in list_targets()]
    assert names == sorted(names)
    assert set(names) == {p.stem for p in SHIPPED}


@pytest.mark.parametrize(
    "alias, expected",
    [("jetson", "jetson-orin-nano"), ("rpi", "rpi5"), ("phone", "android-arm64")],
)
def test_family_aliases_resolve_to_reference_devices(alias, expected):
    assert resolve_name(alias) == expected
    t = load_target(alias)
    assert t.name == expected
    assert t.family == alias


def test_pi5_has_dot_product_and_pi4_does_not():
    assert load_target("rpi5").has_feature("asimddp")
    assert not load_target("rpi4").has_feature("asimddp")
    # Pi 4's Cortex-A72 also has no fp16 arithmetic, so fp16 is not offered there.
    assert "fp16" not in load_target("rpi4").precisions


def test_dla_only_on_orin_nx_and_agx():
    def has_dla(name: str) -> bool:
        return any(a.startswith("dla:") for a in load_target(name).accelerators)

    assert has_dla("jetson-orin-nx")
    assert has_dla("jetson-agx-orin")
    assert not has_dla("jetson-orin-nano")
    assert not has_dla("jetson-nano")


def test_jetson_nano_keeps_old_runtime_limits():
    nano = load_target("jetson-nano")
    assert nano.onnxruntime_version.startswith("1.11")
    assert nano.max_ir_version <= 8
    assert nano.max_opset <= 13  # TensorRT 8.0's ONNX parser
    assert "int8" not in nano.precisions  # Maxwell sm_53: no INT8 path in TensorRT
    orin = load_target("jetson-orin-nano")
    assert nano.max_ir_version < orin.max_ir_version


def test_power_sensors_and_modes_per_family():
    expected = {
        "jetson-orin-nano": "ina3221-hwmon",
        "jetson-orin-nx": "ina3221-hwmon",
        "jetson-agx-orin": "ina3221-hwmon",
        "jetson-nano": "ina3221-iio",
        "rpi5": "vcgencmd-pmic",
        "rpi4": "external-meter",
        "android-arm64": "android-battery",
        "ios-arm64": "ios-battery",
    }
    for name, sensor in expected.items():
        assert load_target(name).power_sensor == sensor, name
    for t in list_targets():
        ids = [m.nvpmodel_id for m in t.power_modes]
        if t.family == "jetson":
            assert None not in ids and len(set(ids)) == len(ids), t.name
        else:
            assert set(ids) == {None}, t.name
        assert (t.battery_capacity_mah is not None) == (t.family == "phone"), t.name
    orin_nano_budgets = {m.name: m.budget_w for m in load_target("jetson").power_modes}
    assert orin_nano_budgets["7W"] == 7 and orin_nano_budgets["15W"] == 15


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_model_at_profile_limits_loads_in_onnxruntime(path):
    """A model stamped with the profile's max IR version and opset is a valid, loadable model."""
    t = load_target_file(path)
    session = ort.InferenceSession(tiny_model(t.max_ir_version, t.max_opset), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]


# --- validation errors name the file and the key --------------------------------------------


def test_unknown_key_names_file_and_key(tmp_path):
    text = edited(shipped_text("rpi5"), 'name = "rpi5"\n', 'name = "rpi5"\nturbo_mode = true\n')
    path = write_profile(tmp_path, "rpi5", text)
    with pytest.raises(ConfigError) as err:
        load_target_file(path)
    msg = str(err.value)
    assert str(path) in msg and "turbo_mode" in msg and "unknown key" in msg


def test_unknown_key_in_nested_table_names_the_path(tmp_path):
    text = edited(shipped_text("rpi5"), "idle_w = 4.1", "idle_w = 4.1\nidle_mw = 4100")
    path = write_profile(tmp_path, "rpi5", text)
    with pytest.raises(ConfigError, match=r"estimate\.idle_mw.*unknown key"):
        load_target_file(path)


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("cpu_cores = 4", "cpu_cores = -4", "cpu_cores"),
        ("cpu_cores = 4", 'cpu_cores = "four"', "cpu_cores"),
        ('precisions = ["int8", "fp16", "fp32", "int4"]', 'precisions = ["int2", "fp32"]', "precisions.0"),
        ("budget_w = 17.3", "budget_w = 0", "power_modes.0.budget_w"),
        ('power_sensor = "vcgencmd-pmic"', 'power_sensor = "ina219"', "power_sensor"),
        ("thermal_limit_c = 80.0", "thermal_limit_c = 800.0", "thermal_limit_c"),
        ("min_cosine = 0.99", "min_cosine = 1.5", "tolerances.min_cosine"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path, old, new, key):
    path = write_profile(tmp_path, "rpi5", edited(shipped_text("rpi5"), old, new))
    with pytest.raises(ConfigError) as err:
        load_target_file(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"key '{key}'" in msg


def test_missing_required_key_is_named(tmp_path):
    path = write_profile(tmp_path, "rpi4", edited(shipped_text("rpi4"), 'power_sensor = "external-meter"\n', ""))
    with pytest.raises(ConfigError, match=r"key 'power_sensor'.*[Ff]ield required"):
        load_target_file(path)


@pytest.mark.parametrize(
    "old, new, words",
    [
        ('preferred_precisions = ["int8", "fp32"]', 'preferred_precisions = ["fp16"]', "preferred precision 'fp16'"),
        ('default_power_mode = "psu-3a"', 'default_power_mode = "turbo"', "default_power_mode 'turbo'"),
        ("thermal_critical_c = 85.0", "thermal_critical_c = 70.0", "thermal_critical_c"),
        ("max_w = 5.4", "max_w = 1.0", "idle_w"),
        ('power_sensor = "external-meter"', 'power_sensor = "external-meter"\nbattery_capacity_mah = 5000.0', "battery"),
    ],
)
def test_inconsistent_profile_is_rejected(tmp_path, old, new, words):
    path = write_profile(tmp_path, "rpi4", edited(shipped_text("rpi4"), old, new))
    with pytest.raises(ConfigError) as err:
        load_target_file(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_duplicate_power_mode_names_are_rejected(tmp_path):
    text = edited(shipped_text("jetson-nano"), 'name = "5W"', 'name = "MAXN"')
    path = write_profile(tmp_path, "jetson-nano", text)
    with pytest.raises(ConfigError, match="unique"):
        load_target_file(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = write_profile(tmp_path, "rpi5", shipped_text("rpi5") + "\nthis is = not = toml\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_target_file(path)
    assert str(path) in str(err.value)


def test_name_must_match_file_stem(tmp_path):
    path = write_profile(tmp_path, "my-pi", shipped_text("rpi5"))
    with pytest.raises(ConfigError) as err:
        load_target_file(path)
    msg = str(err.value)
    assert str(path) in msg and "key 'name'" in msg and "'my-pi'" in msg


def test_unknown_target_lists_known_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_target("jetson-tx2")
    msg = str(err.value)
    assert "'jetson-tx2'" in msg
    for name in REQUIRED:
        assert name in msg
    for alias in ALIASES:
        assert alias in msg


def test_load_target_from_other_directory_and_alias(tmp_path):
    write_profile(tmp_path, "rpi5", shipped_text("rpi5"))
    assert load_target("rpi", targets_dir=tmp_path).name == "rpi5"
    with pytest.raises(ConfigError, match="choose one of rpi5 "):
        load_target("rpi4", targets_dir=tmp_path)


def test_list_targets_fails_on_any_broken_file(tmp_path):
    write_profile(tmp_path, "rpi5", shipped_text("rpi5"))
    broken = write_profile(tmp_path, "rpi4", edited(shipped_text("rpi4"), "cpu_cores = 4", "cpu_cores = 0"))
    with pytest.raises(ConfigError) as err:
        list_targets(tmp_path)
    assert str(broken) in str(err.value) and "cpu_cores" in str(err.value)


# --- the `edgekit targets` command ------------------------------------------------------------


def test_targets_json_subprocess_lists_every_profile():
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "targets", "--json"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {d["name"] for d in data} == {p.stem for p in SHIPPED}
    rpi5 = next(d for d in data if d["name"] == "rpi5")
    assert "asimddp" in rpi5["cpu_features"]
    assert rpi5["power_modes"][0]["budget_w"] > 0


def test_targets_table_runs(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps cells to the terminal width
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "rpi5" in out and "jetson-orin-nano" in out


def test_targets_json_from_custom_dir(tmp_path, capsys):
    write_profile(tmp_path, "rpi5", shipped_text("rpi5"))
    assert main(["targets", "--json", "--targets-dir", str(tmp_path)]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["rpi5"]


def test_cli_broken_tree_exits_nonzero_with_one_line(tmp_path, capsys):
    text = edited(shipped_text("rpi5"), 'name = "rpi5"\n', 'name = "rpi5"\nturbo_mode = true\n')
    path = write_profile(tmp_path, "rpi5", text)
    rc = main(["targets", "--json", "--targets-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc != 0
    assert captured.out == ""  # no partial JSON
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("edgekit: error: ") and str(path) in lines[0] and "turbo_mode" in lines[0]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_targets_dir_without_profiles_says_so(tmp_path, capsys, make):
    d = tmp_path / "profiles"
    if make == "empty":
        d.mkdir()
    what = "is not a directory" if make == "missing" else "holds no target profiles (*.toml)"
    with pytest.raises(ConfigError, match=re.escape(f"{d}: {what}; pass a --targets-dir that holds profiles")):
        load_target("rpi5", targets_dir=d)
    assert main(["targets", "--targets-dir", str(d)]) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == f"edgekit: error: {d}: {what}; pass a --targets-dir " \
                                                        f"that holds profiles, or leave it out for the bundled ones"


@pytest.mark.parametrize("columns,wide", [(80, False), (60, False), (80, True)])
def test_targets_table_never_shortens_a_profile_name(capsys, monkeypatch, columns, wide):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["targets", *(["--wide"] if wide else [])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= columns for line in lines)
    first_cells = {line.split("│")[1].strip() for line in lines if line.startswith("│") and line.split("│")[1].strip()}
    assert {p.stem for p in SHIPPED} <= first_cells
    assert not any("…" in line.split("│")[1] for line in lines if line.startswith("│"))
