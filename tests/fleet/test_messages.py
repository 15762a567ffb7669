import json

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet import messages


def test_topics_and_parse_round_trip():
    assert messages.topic("lab", "pi-01", "result") == "edgekit/v1/lab/pi-01/result"
    assert messages.ack_topic("lab", "pi-01") == "edgekit/v1/lab/pi-01/ack"
    assert messages.alert_topic("lab", "pi-01") == "edgekit/v1/lab/alerts/pi-01"
    assert messages.parse_topic("edgekit/v1/lab/pi-01/telemetry") == ("lab", "pi-01", "telemetry")
    assert messages.parse_topic("edgekit/v1/lab/alerts/pi-01") is None
    assert messages.parse_topic("edgekit/v2/lab/pi-01/result") is None
    assert messages.parse_topic("edgekit/v1/lab/pi-01/other") is None


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "dev#1", "x" * 129, "-lead", "sp ace"])
def test_bad_segments_are_refused_with_a_fix(bad):
    with pytest.raises(ConfigError, match="one MQTT topic level"):
        messages.topic("lab", bad, "result")


def test_envelope_fields_and_encoding():
    env = messages.build_envelope("result", {"x": 1}, fleet="lab", device_id="d1", seq=3, target="rpi5")
    assert env["schema"] == "edgekit.message" and env["schema_version"] == 1
    assert len(env["message_id"]) == 32 and int(env["message_id"], 16) >= 0
    assert env["sent_at"].endswith("Z") and len(env["sent_at"]) == 24
    assert json.loads(messages.encode(env)) == env
    env2 = messages.build_envelope("result", {"x": 1}, fleet="lab", device_id="d1", seq=4)
    assert env2["message_id"] != env["message_id"]
    with pytest.raises(ConfigError, match="NaN"):
        messages.encode(messages.build_envelope("telemetry", {"p": float("nan")}, fleet="l", device_id="d", seq=1))


def test_ack_parsing_ignores_junk():
    ok = json.dumps(messages.build_ack(["a" * 32, "b" * 32])).encode()
    assert messages.parse_ack(ok) == ["a" * 32, "b" * 32]
    for junk in (b"\xff\xfe", b"[]", b'{"schema":"edgekit.ack","schema_version":2,"message_ids":["x"]}',
                 b'{"schema":"edgekit.ack","schema_version":1,"message_ids":"x"}',
                 b'{"schema":"edgekit.ack","schema_version":1,"message_ids":[1,null]}'):
        assert messages.parse_ack(junk) == []


def test_ack_with_collector_rejections():
    doc = messages.build_ack(["a" * 32])
    doc["rejected"] = [{"message_id": "b" * 32, "reason": "schema"}, {"message_id": 5}, "junk"]
    assert messages.parse_ack_full(json.dumps(doc).encode()) == (["a" * 32], [("b" * 32, "schema")])


def test_broker_url_defaults_and_tls(tmp_path):
    cfg = messages.parse_broker_url("mqtt://broker.lan")
    assert (cfg.host, cfg.port, cfg.tls) == ("broker.lan", 1883, False)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cfg = messages.parse_broker_url("mqtts://dev1@broker.lan", ca_file=ca)
    assert (cfg.port, cfg.tls, cfg.username, cfg.ca_file) == (8883, True, "dev1", ca)


def test_password_from_file_or_env_never_in_repr(tmp_path, monkeypatch):
    pw = tmp_path / "pw"
    pw.write_text("s3cret-file\n")
    cfg = messages.parse_broker_url("mqtts://dev1@h:8884", password_file=pw)
    assert cfg.password == "s3cret-file"
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.redacted_url()
    assert cfg.redacted_url() == "mqtts://dev1@h:8884"
    monkeypatch.setenv("EDGEKIT_TEST_PW", "s3cret-env")
    cfg = messages.parse_broker_url("mqtt://h", username="u", password_env="EDGEKIT_TEST_PW")
    assert cfg.password == "s3cret-env" and "s3cret" not in repr(cfg)


@pytest.mark.parametrize("url,kwargs,match", [
    ("http://h", {}, "scheme"),
    ("mqtt://", {}, "no host"),
    ("mqtt://u:pw@h", {}, "holds a password"),
    ("mqtt://h:99999", {}, "bad broker URL"),
    ("mqtt://h/path", {}, "path"),
    ("mqtt://h?protocol=4", {}, "protocol=3.1.1"),
    ("mqtt://h?qos=2", {}, "not understood"),
    ("mqtt://h", {"ca_file": "/nonexistent.pem"}, "mqtts://"),
    ("mqtts://h", {"ca_file": "/nonexistent.pem"}, "does not exist"),
    ("mqtt://h", {"password_env": "EDGEKIT_UNSET_VAR_X"}, "not set"),
    ("mqtt://h", {"password_file": "/nonexistent-pw"}, "cannot read"),
])
def test_bad_broker_options_give_one_line_errors(url, kwargs, match):
    with pytest.raises(ConfigError, match=match) as exc:
        messages.parse_broker_url(url, **kwargs)
    assert "\n" not in str(exc.value)


def test_protocol_query():
    assert messages.parse_broker_url("mqtt://h:1").protocol == "5"
    cfg = messages.parse_broker_url("mqtt://127.0.0.1:1884?protocol=3.1.1")
    assert cfg.protocol == "3.1.1" and cfg.redacted_url() == "mqtt://127.0.0.1:1884?protocol=3.1.1"


def test_password_needs_a_user(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    with pytest.raises(ConfigError, match="--username"):
        messages.parse_broker_url("mqtt://h", password_file=pw)


def test_default_device_id_is_a_valid_segment():
    assert messages.SEGMENT_RE.match(messages.default_device_id())
