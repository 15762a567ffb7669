"""Ordered schema migrations, shared by the SQLite and PostgreSQL stores.

Each migration is a list of statements written with placeholders for the
types that differ between the two databases: ``{id}`` (auto-increment primary
key), ``{real}``, ``{bigint}``, ``{bool}``, ``{blob}``, ``{random_id}`` (an expression
for 32 random hex digits), ``{minute_s}``/``{hour_s}`` (``sent_at_s`` rounded down to its minute/hour). A store applies the
migrations newer than the version in its ``schema_version`` table, each in its
own transaction, and records the version. Never edit a released migration:
append a new one.

Times are Unix seconds (``*_s``, double precision): ``sent_at_s`` is the
device's clock, ``received_at_s``/``stored_at_s`` the collector's.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "devices, messages, telemetry, results, gaps, violations, dead letters", (
        """CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            fleet TEXT NOT NULL,
            target TEXT,
            first_seen_s {real} NOT NULL,
            last_seen_s {real} NOT NULL,
            last_sent_at_s {real},
            max_seq {bigint},
            messages {bigint} NOT NULL DEFAULT 0,
            state TEXT,
            state_at_s {real}
        )""",
        """CREATE TABLE messages (
            device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            fleet TEXT NOT NULL,
            seq {bigint},
            sent_at_s {real} NOT NULL,
            received_at_s {real} NOT NULL,
            stored_at_s {real} NOT NULL,
            PRIMARY KEY (device_id, message_id)
        )""",
        """CREATE TABLE telemetry (
            device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            fleet TEXT NOT NULL,
            target TEXT,
            seq {bigint},
            sent_at_s {real} NOT NULL,
            window_s {real} NOT NULL,
            power_w_avg {real},
            power_w_peak {real},
            energy_j {real},
            temp_c_max {real},
            throttled {bool},
            battery_pct {real},
            battery_drain_pct_h {real},
            power_source TEXT,
            scope TEXT,
            estimated {bool},
            PRIMARY KEY (device_id, message_id)
        )""",
        "CREATE INDEX telemetry_device_time ON telemetry (device_id, sent_at_s)",
        "CREATE INDEX telemetry_time ON telemetry (sent_at_s)",
        """CREATE TABLE results (
            device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            fleet TEXT NOT NULL,
            target TEXT,
            seq {bigint},
            sent_at_s {real} NOT NULL,
            model TEXT,
            precision TEXT,
            latency_ms_p50 {real},
            latency_ms_p99 {real},
            power_w_avg {real},
            power_w_peak {real},
            energy_mj_per_inference {real},
            energy_mj_per_inference_net {real},
            temp_c_max {real},
            throttled {bool},
            battery_drain_pct_h {real},
            estimated {bool},
            document TEXT NOT NULL,
            PRIMARY KEY (device_id, message_id)
        )""",
        "CREATE INDEX results_time ON results (sent_at_s)",
        """CREATE TABLE gaps (
            id {id},
            device_id TEXT NOT NULL,
            first_seq {bigint} NOT NULL,
            last_seq {bigint} NOT NULL,
            missing {bigint} NOT NULL,
            detected_at_s {real} NOT NULL,
            closed_at_s {real}
        )""",
        "CREATE INDEX gaps_device ON gaps (device_id, first_seq)",
        """CREATE TABLE violations (
            id {id},
            device_id TEXT NOT NULL,
            fleet TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            unit TEXT NOT NULL,
            limit_value {real} NOT NULL,
            source TEXT NOT NULL,
            value {real} NOT NULL,
            worst_value {real} NOT NULL,
            raised_at_s {real} NOT NULL,
            raised_message_id TEXT NOT NULL,
            cleared_at_s {real},
            cleared_message_id TEXT,
            cleared_value {real},
            raised_published {bool} NOT NULL DEFAULT {false},
            cleared_published {bool} NOT NULL DEFAULT {false}
        )""",
        # at most one open violation per device, kind and subject: "published once" rests on it
        "CREATE UNIQUE INDEX violations_open ON violations (device_id, kind, subject) WHERE cleared_at_s IS NULL",
        "CREATE INDEX violations_time ON violations (raised_at_s)",
        """CREATE TABLE dead_letters (
            id {id},
            received_at_s {real} NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            payload_bytes {bigint} NOT NULL,
            payload_head {blob} NOT NULL
        )""",
        "CREATE INDEX dead_letters_time ON dead_letters (received_at_s)",
    )),
    (2, "violations say how the figure that raised them was measured", (
        "ALTER TABLE violations ADD COLUMN measured_by TEXT",
        "ALTER TABLE violations ADD COLUMN estimated {bool}",
    )),
)


def _rekey(table: str, key: str, indexes: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Rebuild a table of version 1 under the primary key ``key`` (SQLite cannot change one in place): the
    same columns, created anew, rows copied, swapped in. Derived from version 1's text, which never changes."""
    create = next(s for s in MIGRATIONS[0][2] if s.startswith(f"CREATE TABLE {table} ("))
    lines = [line.replace(" PRIMARY KEY,", " NOT NULL,") for line in create.splitlines()
             if not line.strip().startswith("PRIMARY KEY")]
    columns = ", ".join(line.split()[0] for line in lines[1:-1])
    lines[-2] = lines[-2].rstrip(",") + f",\n            PRIMARY KEY ({key})"
    create = "\n".join(lines)
    return (create.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_v3 ("),
            f"INSERT INTO {table}_v3 ({columns}) SELECT {columns} FROM {table}",
            f"DROP TABLE {table}", f"ALTER TABLE {table}_v3 RENAME TO {table}", *indexes)


_MESSAGE_KEY = "fleet, device_id, message_id"

# Version 3: a device is (fleet, device_id). Rows written before it keep the fleet they were stored with;
# a device row (one per id before) stays under the fleet it last reported in, and its gaps with it.
_PER_FLEET = (
    *_rekey("devices", "fleet, device_id"),
    *_rekey("messages", _MESSAGE_KEY),
    *_rekey("telemetry", _MESSAGE_KEY, (
        "CREATE INDEX telemetry_device_time ON telemetry (fleet, device_id, sent_at_s)",
        "CREATE INDEX telemetry_time ON telemetry (sent_at_s)")),
    *_rekey("results", _MESSAGE_KEY, ("CREATE INDEX results_time ON results (sent_at_s)",)),
    "ALTER TABLE gaps ADD COLUMN fleet TEXT NOT NULL DEFAULT ''",
    "UPDATE gaps SET fleet = COALESCE((SELECT d.fleet FROM devices d WHERE d.device_id = gaps.device_id), '')",
    "DROP INDEX gaps_device",
    "CREATE INDEX gaps_device ON gaps (fleet, device_id, first_seq)",
    "DROP INDEX violations_open",
    "CREATE UNIQUE INDEX violations_open ON violations (fleet, device_id, kind, subject) WHERE cleared_at_s IS NULL",
)

MIGRATIONS += (
    (3, "devices, messages, figures, gaps and violations keyed by (fleet, device_id)", _PER_FLEET),
)

# Version 4: the store's id, made once with the database (or on upgrade) and never changed. Every ack names
# it, so a device releases a message only when the store it reports to has it, not on another collector's ack.
MIGRATIONS += (
    (4, "the store id that acks carry", (
        "CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO store_info (key, value) VALUES ('store_id', {random_id})",
    )),
)

# Version 5: rollups. Per device per minute and per hour, what the report reads instead of raw telemetry (the
# collector keeps them in the transaction that stores the telemetry; rollups.py); built here for existing rows.
# A bucket is [bucket_s, bucket_s + width) on the device's clock (sent_at_s). The latest sample's target and
# provenance (power_source, scope, window_s) stay with the bucket.
_ROLLUP_TABLE = """CREATE TABLE telemetry_{name} (
            fleet TEXT NOT NULL,
            device_id TEXT NOT NULL,
            bucket_s {real} NOT NULL,
            target TEXT,
            samples {bigint} NOT NULL,
            covered_s {real} NOT NULL,
            energy_j {real} NOT NULL,
            energy_samples {bigint} NOT NULL,
            power_ws {real} NOT NULL,
            power_s {real} NOT NULL,
            power_w_peak {real},
            temp_c_max {real},
            throttled_known {bigint} NOT NULL,
            throttled_n {bigint} NOT NULL,
            throttled_s {real} NOT NULL,
            battery_drain_pct {real} NOT NULL,
            battery_s {real} NOT NULL,
            estimated_n {bigint} NOT NULL,
            last_sent_at_s {real} NOT NULL,
            power_source TEXT,
            scope TEXT,
            window_s {real},
            PRIMARY KEY (fleet, device_id, bucket_s)
        )"""
_ROLLUP_FILL = """INSERT INTO telemetry_{name} (fleet, device_id, bucket_s, samples, covered_s, energy_j, energy_samples,
            power_ws, power_s, power_w_peak, temp_c_max, throttled_known, throttled_n, throttled_s,
            battery_drain_pct, battery_s, estimated_n, last_sent_at_s)
        SELECT fleet, device_id, {bucket}, COUNT(*), SUM(window_s),
            COALESCE(SUM(COALESCE(energy_j, power_w_avg * window_s)), 0),
            SUM(CASE WHEN energy_j IS NOT NULL OR power_w_avg IS NOT NULL THEN 1 ELSE 0 END),
            COALESCE(SUM(CASE WHEN power_w_avg IS NOT NULL AND window_s > 0 THEN power_w_avg * window_s END), 0),
            COALESCE(SUM(CASE WHEN power_w_avg IS NOT NULL AND window_s > 0 THEN window_s END), 0),
            MAX(power_w_peak), MAX(temp_c_max),
            SUM(CASE WHEN throttled IS NOT NULL THEN 1 ELSE 0 END), SUM(CASE WHEN throttled THEN 1 ELSE 0 END),
            COALESCE(SUM(CASE WHEN throttled THEN window_s END), 0),
            COALESCE(SUM(battery_drain_pct_h * window_s / 3600.0), 0),
            COALESCE(SUM(CASE WHEN battery_drain_pct_h IS NOT NULL THEN window_s END), 0),
            SUM(CASE WHEN estimated THEN 1 ELSE 0 END), MAX(sent_at_s)
        FROM telemetry GROUP BY fleet, device_id, {bucket}"""
_ROLLUP_LATEST = """UPDATE telemetry_{name} SET (target, power_source, scope, window_s) = (
            SELECT t.target, t.power_source, t.scope, t.window_s FROM telemetry t
            WHERE t.fleet = telemetry_{name}.fleet AND t.device_id = telemetry_{name}.device_id
            AND t.sent_at_s = telemetry_{name}.last_sent_at_s ORDER BY t.message_id DESC LIMIT 1)"""


def _rollup(name: str, bucket: str) -> tuple[str, ...]:
    # {{real}} etc. stay placeholders for statements(); the bucket expression is the dialect's floor
    return (_ROLLUP_TABLE.replace("{name}", name),
            f"CREATE INDEX telemetry_{name}_time ON telemetry_{name} (bucket_s)",
            _ROLLUP_FILL.replace("{name}", name).replace("{bucket}", bucket),
            _ROLLUP_LATEST.replace("{name}", name))


MIGRATIONS += (
    (5, "telemetry rollups per device per minute and per hour", (
        *_rollup("minute", "{minute_s}"), *_rollup("hour", "{hour_s}"),
    )),
)

LATEST_VERSION = MIGRATIONS[-1][0]


def statements(version_stmts: tuple[str, ...], types: dict[str, str]) -> list[str]:
    return [s.format(**types) for s in version_stmts]
