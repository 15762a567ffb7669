

def test_edgekit_collect_survives_the_poison_topic_and_restarts_cleanly(mosquitto, db_url, tmp_path):  # noqa: F811
    """The issue's reproduction, against the real `edgekit collect` process."""
    from helpers_collector import CollectorProcess

    proc = CollectorProcess(mosquitto.url, db_url, tmp_path, client_id="poison-cli")
    pub = Publisher(mosquitto.port)
    proc.start()
    try:
        pub.publish_many([("edgekit/v1/bad fleet!/dev-a/telemetry", json.dumps({"message_id": MID}).encode())])
        pub.publish_many([wire(envelope("telemetry", "dev-b", 1, telemetry_body()))])
        store = open_store(db_url)
        wait_until(lambda: store.counts()["telemetry"] == 1, 10, "the valid message after the poison")
        assert proc.stop() == 0
        proc.start()  # the same persistent session: the poison was PUBACKed, nothing comes back
        pub.publish_many([wire(envelope("telemetry", "dev-b", 2, telemetry_body()))])
        wait_until(lambda: store.counts()["telemetry"] == 2, 10, "the valid message after the restart")
        assert proc.stop() == 0
        assert [d.reason for d in store.dead_letters()] == ["bad_topic"]
        store.close()
        log = proc.log()
        assert "retrying" not in log and "Traceback" not in log, log
        assert log.count("rejected a message") == 1, log
    finally:
        proc.kill()
        pub.close()
    _check_cli_works(db_url)
