"""Time one read() of each sysfs-based source on the fake trees the tests use.

Run: python tests/sensors/read_cost.py
Prints microseconds per read (median of 5 runs of 2000 reads) on this machine. Real sysfs
attributes can cost more than these page-cache files when the driver talks to the chip.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fakehw import (add_cpufreq, add_rapl_zone, jetson_agx_orin, jetson_nano, jetson_nano_thermal,  # noqa: E402
                    jetson_orin_nano, laptop_battery_charge, write_proc_stat)

from edgekit.sensors.battery.power_supply import BatterySource  # noqa: E402
from edgekit.sensors.estimate import EstimateSource  # noqa: E402
from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource  # noqa: E402
from edgekit.sensors.jetson.ina3221_iio import JetsonIioSource  # noqa: E402
from edgekit.sensors.thermal import ThermalReader  # noqa: E402
from edgekit.sensors.x86.rapl import RaplSource  # noqa: E402


def cost_us(fn, n: int = 2000, runs: int = 5) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        cases = {}
        r = base / "orin-nano"
        jetson_orin_nano(r)
        cases["jetson-ina3221-hwmon (Orin Nano, 3 rails)"] = JetsonHwmonSource(r).read
        r = base / "agx-orin"
        jetson_agx_orin(r)
        cases["jetson-ina3221-hwmon (AGX Orin, 4 rails)"] = JetsonHwmonSource(r).read
        r = base / "nano"
        jetson_nano(r)
        cases["jetson-ina3221-iio (Nano, 3 rails)"] = JetsonIioSource(r).read
        r = base / "laptop"
        laptop_battery_charge(r)
        cases["battery (current_now x voltage_now)"] = BatterySource(r).read
        r = base / "rapl"
        add_rapl_zone(r, "intel-rapl:0", "package-0", 0)
        cases["rapl (1 package)"] = RaplSource(r).read
        p = base / "proc"
        write_proc_stat(p, 100, 0, 100, 800)
        cases["estimate (/proc/stat)"] = EstimateSource(2.0, 6.0, proc_root=p).read
        r = base / "thermal"
        jetson_nano_thermal(r)
        for cpu in range(4):
            add_cpufreq(r, cpu, 1428000, 1479000)
        cases["thermal (6 zones, 4 cpus)"] = ThermalReader(r).read
        width = max(map(len, cases))
        for name, fn in cases.items():
            us = cost_us(fn)
            print(f"{name:<{width}}  {us:8.1f} us/read  ({us * 100 / 1e4:.2f} % of one core at 100 Hz)")


if __name__ == "__main__":
    main()
