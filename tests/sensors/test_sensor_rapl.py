import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from edgekit.errors import SensorError
from edgekit.sensors.x86.rapl import RaplSource
from fakehw import add_rapl_zone, write

MAX = 262143328850


def test_package_counter_and_power(sysroot):
    pkg = add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 1_000_000)
    add_rapl_zone(sysroot, "intel-rapl:0:0", "core", 500_000)       # part of the package: not summed
    add_rapl_zone(sysroot, "intel-rapl:1", "psys", 9_000_000)        # contains the package: not summed
    src = RaplSource(sysroot)
    assert src.info.rails == ("package-0",) and src.info.has_counter and src.info.scope == "package"
    s0 = src.read()
    assert s0.energy_j == 0.0
    write(pkg / "energy_uj", 3_500_000)
    s1 = src.read()
    assert s1.energy_j == pytest.approx(2.5)
    assert s1.power_w == pytest.approx(2.5 / (s1.t_s - s0.t_s))


def test_counter_wrap(sysroot):
    pkg = add_rapl_zone(sysroot, "intel-rapl:0", "package-0", MAX - 2_000_000)
    src = RaplSource(sysroot)
    write(pkg / "energy_uj", MAX - 500_000)
    assert src.read().energy_j == pytest.approx(1.5)
    write(pkg / "energy_uj", 700_000)                 # wrapped: 500_000 to the top, then 700_000
    assert src.read().energy_j == pytest.approx(1.5 + 0.5 + 0.7)
    write(pkg / "energy_uj", 5_700_000)
    assert src.read().energy_j == pytest.approx(2.7 + 5.0)


def test_two_packages_summed_with_rails(sysroot):
    a = add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 0)
    b = add_rapl_zone(sysroot, "intel-rapl:1", "package-1", 100)
    src = RaplSource(sysroot)
    write(a / "energy_uj", 1_000_000)
    write(b / "energy_uj", 3_000_100)
    s = src.read()
    assert s.energy_j == pytest.approx(4.0)
    assert s.rails_w["package-1"] == pytest.approx(3 * s.rails_w["package-0"])


def test_wrap_without_max_range_is_refused(sysroot):
    pkg = add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 1000, max_energy_range_uj=None)
    src = RaplSource(sysroot)
    assert "wraps not corrected" in src.info.description
    write(pkg / "energy_uj", 10)
    with pytest.raises(SensorError, match="went backwards"):
        src.read()


def test_no_rapl(sysroot):
    with pytest.raises(SensorError, match="no RAPL package zone"):
        RaplSource(sysroot)


def test_permission_denied_names_the_fix(sysroot):
    """energy_uj mode 0400 read by a process that the file permissions apply to.

    Run as root, the reader runs under ``setpriv`` without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH,
    so root obeys the mode bits exactly as an ordinary user does on a real RAPL file.
    """
    pkg = add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 123)
    (pkg / "energy_uj").chmod(0o000)
    code = textwrap.dedent(f"""
        from edgekit.errors import SensorError
        from edgekit.sensors.x86.rapl import RaplSource
        try:
            RaplSource({str(sysroot)!r})
        except SensorError as e:
            print(e)
    """)
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    msg = out.stdout.strip()
    assert out.returncode == 0, out.stderr
    assert "\n" not in msg
    assert f"cannot read {pkg}/energy_uj: permission denied" in msg
    assert "run as root" in msg and "chmod" in msg and "mode class/powercap/intel-rapl:0/energy_uj = 0444" in msg
