import subprocess


def test_fixture_broker_round_trip_and_restart(mosquitto):
    def pub_sub(msg: str) -> str:
        sub = subprocess.Popen(
            ["mosquitto_sub", "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "t/x", "-C", "1", "-W", "5"],
            stdout=subprocess.PIPE, text=True)
        import time
        time.sleep(0.3)
        subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "t/x", "-m", msg], check=True)
        out, _ = sub.communicate(timeout=10)
        return out.strip()

    assert pub_sub("one") == "one"
    mosquitto.kill()
    mosquitto.start()
    assert pub_sub("two") == "two"


def test_fixture_broker_saves_its_persistence_file(mosquitto):
    import time
    subprocess.run(["mosquitto_pub", "-p", str(mosquitto.port), "-h", "127.0.0.1", "-t", "t/r", "-m", "kept",
                    "-r", "-q", "1"], check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any((mosquitto.workdir / "data").iterdir()):
        time.sleep(0.2)
    assert any((mosquitto.workdir / "data").iterdir()), "broker could not write its persistence folder"
