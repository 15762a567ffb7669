"""ACL refusals (MQTT 5 PUBACK 135) and TLS + password, against a real mosquitto."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_reporter_acker import Acker

from edgekit.fleet.messages import parse_broker_url
from edgekit.fleet.device.deliver import report_result
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool

DEVICE_PW = "dev1-Pw-9f3c1e"
ACKER_PW = "acker-Pw-77aa"


def _readable(path):
    os.chmod(path, 0o644)
    if os.geteuid() == 0:
        shutil.chown(path, user="mosquitto")


@pytest.fixture
def auth_dir():
    """A folder the broker can read after it drops to the mosquitto user.

    pytest's tmp_path sits under a 0700 folder of root, which mosquitto (started
    as root, running as ``mosquitto``) cannot traverse.
    """
    d = Path(tempfile.mkdtemp(prefix="edgekit-auth-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _auth_conf(d: Path) -> str:
    """Password file and ACL: a device may write only under its own user name."""
    pw = d / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "dev1", DEVICE_PW], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "acker", ACKER_PW], check=True)
    acl = d / "acl"
    acl.write_text("user acker\ntopic readwrite edgekit/#\n\n"
                   "pattern write edgekit/v1/+/%u/#\npattern read edgekit/v1/+/%u/ack\n")
    for p in (pw, acl):
        _readable(p)
    # The fixture's config says allow_anonymous true; a later line wins.
    return f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}\n"


def _authed_url(broker, user: str) -> str:
    return broker.url.replace("mqtt://", f"mqtt://{user}@")


def test_acl_refusal_puback_135_is_not_delivered(mosquitto, tmp_path, caplog, auth_dir):
    mosquitto.extra_conf = _auth_conf(auth_dir)
    mosquitto.restart()
    acker = Acker(mosquitto.url, tmp_path / "acks.db", username="acker", password=ACKER_PW).start()
    pwfile = tmp_path / "dev1.pw"
    pwfile.write_text(DEVICE_PW + "\n")
    try:
        # dev1 writing under its own id: stored and confirmed (the control).
        ok = report_result(_authed_url(mosquitto, "dev1"), {"run": "own"}, fleet="lab", device_id="dev1",
                           spool_path=tmp_path / "own.db", timeout_s=10, password_file=pwfile)
        assert ok.confirmed, ok.summary()
        # dev1 pretending to be dev2: the broker answers PUBACK 135, which is not a delivery.
        caplog.set_level(logging.DEBUG)
        spool = Spool(tmp_path / "other.db")
        rep = Reporter(parse_broker_url(_authed_url(mosquitto, "dev1"), password_file=pwfile), spool,
                       fleet="lab", device_id="dev2", resend_after_s=60).start()
        try:
            msg = rep.submit("result", {"run": "spoofed"})
            assert not rep.wait_confirmed(msg.message_id, 3)
            st = rep.stats
        finally:
            rep.stop()
        assert st.puback_refusals >= 1 and st.pubacks == 0
        assert "135" in st.last_refusal and "authorized" in st.last_refusal.lower()
        assert spool.contains(msg.message_id)  # kept for a later, allowed delivery
        spool.close()
        assert "refused a message" in caplog.text and "135" in caplog.text
        assert DEVICE_PW not in caplog.text
        assert acker.rows("dev2") == []
        assert len(acker.rows("dev1")) == 1
    finally:
        acker.stop()


def _make_pki(d):
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgekit test CA",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ossl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
         "-CAcreateserial", "-days", "2", "-extfile", str(d / "san.ext"), "-out", str(d / "server.pem"))
    for name in ("ca.pem", "server.pem", "server.key"):
        _readable(d / name)


def _tls_broker(mosquitto, d: Path, extra: str = "") -> Path:
    """Restart the fixture's mosquitto with TLS (a fresh CA in ``d``), passwords and the ACL; the PKI folder."""
    _make_pki(d)
    # Certificate lines after the fixture's `listener` line turn that listener into TLS.
    mosquitto.extra_conf = (_auth_conf(d) + f"cafile {d / 'ca.pem'}\ncertfile {d / 'server.pem'}\n"
                            f"keyfile {d / 'server.key'}\n{extra}")
    mosquitto.restart()
    return d


@pytest.mark.parametrize("via", ["file", "env"])
def test_tls_with_password_delivers_and_never_leaks_the_password(mosquitto, tmp_path, caplog, monkeypatch, via,
                                                                auth_dir):
    pki = _tls_broker(mosquitto, auth_dir, "require_certificate false\n")
    acker = Acker(mosquitto.url, tmp_path / "acks.db", username="acker", password=ACKER_PW,
                  tls_ca=str(pki / "ca.pem")).start()
    url = f"mqtts://dev1@127.0.0.1:{mosquitto.port}"
    if via == "file":
        creds = {"password_file": str(tmp_path / "pw")}
        (tmp_path / "pw").write_text(DEVICE_PW)
    else:
        monkeypatch.setenv("EDGEKIT_TEST_BROKER_PW", DEVICE_PW)
        creds = {"password_env": "EDGEKIT_TEST_BROKER_PW"}
    caplog.set_level(logging.DEBUG)
    try:
        out = report_result(url, {"run": "tls"}, fleet="lab", device_id="dev1", spool_path=tmp_path / "s.db",
                            timeout_s=10, ca_file=str(pki / "ca.pem"), **creds)
        assert out.confirmed, out.summary()
        rows = acker.rows("dev1")
    finally:
        acker.stop()
    assert len(rows) == 1
    assert "mqtts://dev1@127.0.0.1" in caplog.text  # it did log the connection...
    assert DEVICE_PW not in caplog.text              # ...without the password
    assert DEVICE_PW not in rows[0][5]
    assert DEVICE_PW not in repr(out) and DEVICE_PW not in out.summary()
    assert DEVICE_PW.encode() not in (tmp_path / "s.db").read_bytes()


def test_tls_with_the_wrong_ca_or_password_is_not_confirmed(mosquitto, tmp_path, auth_dir):
    pki = _tls_broker(mosquitto, auth_dir)
    (tmp_path / "pw").write_text("wrong-password")
    out = report_result(f"mqtts://dev1@127.0.0.1:{mosquitto.port}", {"r": 1}, fleet="lab", device_id="dev1",
                        spool_path=tmp_path / "s.db", timeout_s=2, ca_file=str(pki / "ca.pem"),
                        password_file=str(tmp_path / "pw"))
    assert not out.confirmed and out.pending == 1
    assert out.connect_error and ("134" in out.connect_error or "135" in out.connect_error)
    other = tmp_path / "other"
    other.mkdir()
    _make_pki(other)  # a CA that did not sign the server certificate
    (tmp_path / "pw").write_text(DEVICE_PW)
    out = report_result(f"mqtts://dev1@127.0.0.1:{mosquitto.port}", {"r": 2}, fleet="lab", device_id="dev1",
                        spool_path=tmp_path / "s.db", timeout_s=2, ca_file=str(other / "ca.pem"),
                        password_file=str(tmp_path / "pw"))
    assert not out.confirmed and out.pending == 2
    # paho says only "failed": the error names the TLS check that did
    assert out.connect_error.startswith("unreachable: TLS: the broker's certificate did not verify: ")
    assert "--ca-file" in out.connect_error and "certificate" in out.summary()


def test_bench_report_takes_the_agents_broker_options(mosquitto, tmp_path, auth_dir):
    """`edgekit bench --report mqtts://...` with --username, --password-file and --ca-file, like the agent."""
    import sys
    pki = _tls_broker(mosquitto, auth_dir, "require_certificate false\n")
    acker = Acker(mosquitto.url, tmp_path / "acks.db", username="acker", password=ACKER_PW,
                  tls_ca=str(pki / "ca.pem")).start()
    (tmp_path / "pw").write_text(DEVICE_PW + "\n")
    repo = Path(__file__).resolve().parents[3]

    def bench(ca: Path, spool: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "edgekit", "bench", str(repo / "models" / "digits_cnn.onnx"), "--iterations", "20",
             "--warmup", "0", "--idle", "0", "--power", "estimate", "--target", "rpi5",
             "--report", f"mqtts://127.0.0.1:{mosquitto.port}", "--username", "dev1",
             "--password-file", str(tmp_path / "pw"), "--ca-file", str(ca), "--fleet", "lab", "--device-id", "dev1",
             "--spool", str(tmp_path / spool), "--report-timeout", "10", "--json"],
            capture_output=True, text=True, timeout=180, cwd=repo)
    try:
        ok = bench(pki / "ca.pem", "s1.db")
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert len(acker.rows("dev1")) == 1
        other = tmp_path / "other"
        other.mkdir()
        _make_pki(other)
        bad = bench(other / "ca.pem", "s2.db")  # a CA that did not sign the broker's certificate
        assert bad.returncode == 3, bad.stderr[-2000:]
        assert "TLS: the broker's certificate did not verify" in bad.stderr
        # the collector, started against the same broker with the wrong CA, says the same
        from edgekit.errors import EdgekitError
        from edgekit.fleet.collector.ingest import Collector, CollectorConfig
        from edgekit.fleet.collector.store import open_store
        broker = parse_broker_url(f"mqtts://127.0.0.1:{mosquitto.port}", ca_file=str(other / "ca.pem"))
        with open_store(f"sqlite:///{tmp_path / 'fleet.db'}") as store:
            with pytest.raises(EdgekitError, match="TLS: the broker's certificate did not verify"):
                Collector(CollectorConfig(broker=broker, client_id="tls-check"), store).start()
    finally:
        acker.stop()
    assert DEVICE_PW not in ok.stderr + bad.stderr
