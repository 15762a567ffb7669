"""Builders for fake sysfs trees and fake vendor commands (jetson-stats conftest style).

Each builder writes the files one peripheral has on real hardware, with the real file
names and units from shared/reference/power-sensors.md, under a fake sysfs root.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


def write(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")
    return path


# --- Jetson -----------------------------------------------------------------------------

def add_ina3221_hwmon(root: Path, device: str, channels: list[tuple[str, int, int]], *, hwmon: int = 1,
                      shunt_uohm: int | None = None, update_interval_ms: int | None = None) -> Path:
    """A mainline ina3221 hwmon monitor (L4T 34+): channels are (label, mV, mA) for in1..in3.

    Also writes the non-rail files the driver has (shunt voltages in4-6, the shunt-sum
    channel in7 with its label, summed current curr4) so readers must skip them.
    """
    d = root / "bus/i2c/drivers/ina3221" / device / "hwmon" / f"hwmon{hwmon}"
    write(d.parent.parent / "name", "ina3221")
    write(d / "name", "ina3221")
    for k, (label, mv, ma) in enumerate(channels, start=1):
        write(d / f"in{k}_label", label)
        write(d / f"in{k}_input", mv)
        write(d / f"curr{k}_input", ma)
        write(d / f"curr{k}_max", 7784)
        write(d / f"curr{k}_crit", 7784)
        write(d / f"in{k + 3}_input", 1000)  # shunt voltage, uV
        if shunt_uohm is not None:
            write(d / f"shunt{k}_resistor", shunt_uohm)
    write(d / "in7_label", "sum of shunt voltages")
    write(d / "in7_input", 3000)
    write(d / "curr4_input", 99999)
    if update_interval_ms is not None:
        write(d / "update_interval", update_interval_ms)
    return d


def set_hwmon_channel(hwmon_dir: Path, k: int, mv: int, ma: int) -> None:
    write(hwmon_dir / f"in{k}_input", mv)
    write(hwmon_dir / f"curr{k}_input", ma)


def add_ina3221_iio(root: Path, device: str, channels: list[tuple[str, int, int, int | None]], *,
                    iio: int = 0) -> Path:
    """An L4T 32 ina3221x iio monitor: channels are (rail name, mV, mA, mW or None) for k = 0..2."""
    d = root / "bus/i2c/drivers/ina3221x" / device / f"iio:device{iio}"
    write(d / "name", "ina3221x")
    for k, (label, mv, ma, mw) in enumerate(channels):
        write(d / f"rail_name_{k}", label)
        write(d / f"in_voltage{k}_input", mv)
        write(d / f"in_current{k}_input", ma)
        if mw is not None:
            write(d / f"in_power{k}_input", mw)
        write(d / f"warn_current_limit_{k}", 3000)
        write(d / f"crit_current_limit_{k}", 4000)
    return d


def jetson_orin_nano(root: Path, vdd_in=(5020, 980), cpu_gpu_cv=(5000, 160), soc=(5000, 290)) -> Path:
    """Orin Nano/NX (p3767): one monitor 1-0040, in1 = VDD_IN, in2 = VDD_CPU_GPU_CV, in3 = VDD_SOC, 5 mOhm."""
    return add_ina3221_hwmon(root, "1-0040", [("VDD_IN", *vdd_in), ("VDD_CPU_GPU_CV", *cpu_gpu_cv),
                                              ("VDD_SOC", *soc)], hwmon=3, shunt_uohm=5000)


def jetson_agx_orin(root: Path) -> tuple[Path, Path]:
    """AGX Orin (p3701): 1-0040 VDD_GPU_SOC/VDD_CPU_CV/VIN_SYS_5V0, 1-0041 NC/VDDQ_VDD2_1V8AO/NC, 2 mOhm.

    Readings from the real AGX Orin capture in the reference (843 mV x 6170 mA, ...).
    """
    a = add_ina3221_hwmon(root, "1-0040", [("VDD_GPU_SOC", 843, 6170), ("VDD_CPU_CV", 843, 1200),
                                           ("VIN_SYS_5V0", 4968, 953)], hwmon=1, shunt_uohm=2000)
    b = add_ina3221_hwmon(root, "1-0041", [("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 1800, 341), ("NC", 5000, 500)],
                          hwmon=2, shunt_uohm=2000)
    return a, b


def jetson_agx_orin_mainline(root: Path, *, spare: str = "unlabelled", hwmon=(1, 2)) -> tuple[Path, Path]:
    """AGX Orin under the mainline ina3221 driver, whose device tree leaves the spare channels of
    1-0041 (in1, in3) unnamed: no ``in1_label``/``in3_label``, while ``in1_input`` etc. exist
    (on the board reading them answers ENODATA; here they hold values a reader must not count).
    ``spare="absent"``: channel 1's files are missing altogether (the monitor must still be found).
    Same real readings as :func:`jetson_agx_orin` (four rails).
    """
    a = add_ina3221_hwmon(root, "1-0040", [("VDD_GPU_SOC", 843, 6170), ("VDD_CPU_CV", 843, 1200),
                                           ("VIN_SYS_5V0", 4968, 953)], hwmon=hwmon[0], shunt_uohm=2000)
    b = add_ina3221_hwmon(root, "1-0041", [("X", 5000, 500), ("VDDQ_VDD2_1V8AO", 1800, 341), ("X", 5000, 500)],
                          hwmon=hwmon[1], shunt_uohm=2000)
    for k in (1, 3):
        (b / f"in{k}_label").unlink()
        if spare == "absent":
            for f in (f"in{k}_input", f"curr{k}_input", f"curr{k}_max", f"curr{k}_crit"):
                (b / f).unlink()
    return a, b


#: the four AGX Orin rails of the reference capture, mV x mA
AGX_ORIN_RAILS_MW = {"VDD_GPU_SOC": 843 * 6170 / 1000, "VDD_CPU_CV": 843 * 1200 / 1000,
                     "VIN_SYS_5V0": 4968 * 953 / 1000, "VDDQ_VDD2_1V8AO": 1800 * 341 / 1000}


def jetson_thor_ina238(root: Path) -> Path:
    """A Jetson Thor-like board: an INA238 hwmon monitor (mainline ina238 driver), no INA3221."""
    d = root / "bus/i2c/drivers/ina238/2-0040/hwmon/hwmon4"
    write(d / "name", "ina238")
    write(d / "in1_input", 19800)      # bus voltage, mV
    write(d / "curr1_input", 1500)     # mA
    write(d / "power1_input", 29700000)  # uW
    (root / "class/hwmon").mkdir(parents=True, exist_ok=True)
    (root / "class/hwmon/hwmon4").symlink_to(d)
    return d


def jetson_nano(root: Path, pom_in_mw=1022, gpu_mw=0, cpu_mw=204) -> Path:
    """Jetson Nano on L4T 32: 6-0040/iio:device0, POM_5V_IN / POM_5V_GPU / POM_5V_CPU."""
    return add_ina3221_iio(root, "6-0040", [("POM_5V_IN", 5080, round(pom_in_mw * 1000 / 5080), pom_in_mw),
                                            ("POM_5V_GPU", 5072, round(gpu_mw * 1000 / 5072), gpu_mw),
                                            ("POM_5V_CPU", 5064, round(cpu_mw * 1000 / 5064), cpu_mw)])


# --- fake commands ----------------------------------------------------------------------

def fake_command(bin_dir: Path, name: str, python_body: str) -> Path:
    """Write an executable Python script ``bin_dir/name`` that runs ``python_body``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport sys, time, os\n{python_body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def put_on_path(monkeypatch, bin_dir: Path) -> None:
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


# --- power_supply -----------------------------------------------------------------------

def add_power_supply(root: Path, name: str, **attrs) -> Path:
    """A ``class/power_supply/<name>`` entry; attrs are file -> value (units as the kernel: uW, uA, uV, uWh)."""
    d = root / "class/power_supply" / name
    for key, value in attrs.items():
        write(d / key, value)
    return d


def laptop_battery_energy(root: Path, status="Discharging") -> Path:
    """Energy-based ACPI battery (xmobar issue #315 numbers): power_now 27758000 uW, positive while discharging."""
    return add_power_supply(root, "BAT0", type="Battery", status=status, present=1, capacity=9,
                            voltage_now=10459000, power_now=27758000, energy_now=2420000, energy_full=25860000,
                            energy_full_design=24000000)


def laptop_battery_charge(root: Path, status="Discharging") -> Path:
    """Charge-based Dell battery (cnx PR #31 numbers): current_now 756000 uA positive while discharging."""
    return add_power_supply(root, "BAT0", type="Battery", status=status, present=1, capacity=98,
                            voltage_now=12600000, current_now=756000, charge_now=4723000, charge_full=4804000)


def mains(root: Path, online: int) -> Path:
    return add_power_supply(root, "AC", type="Mains", online=online)


# --- RAPL -------------------------------------------------------------------------------

def add_rapl_zone(root: Path, zone: str, name: str, energy_uj: int,
                  max_energy_range_uj: int | None = 262143328850) -> Path:
    """A powercap zone ``class/powercap/<zone>`` (e.g. intel-rapl:0 named package-0, intel-rapl:0:0 core)."""
    d = root / "class/powercap" / zone
    write(d / "name", name)
    write(d / "energy_uj", energy_uj)
    if max_energy_range_uj is not None:
        write(d / "max_energy_range_uj", max_energy_range_uj)
    write(d / "constraint_0_name", "long_term")
    write(d / "constraint_0_power_limit_uw", 15000000)
    return d


# --- Android phone over adb -------------------------------------------------------------

#: ``adb shell dumpsys battery`` as a Nexus-class phone prints it (google/syzkaller issue #79),
#: with the power flags, status and level filled in per test.
DUMPSYS_BATTERY = """Current Battery Service state:
  AC powered: {ac}
  USB powered: {usb}
  Wireless powered: false
  Max charging current: 2400000
  Max charging voltage: 5000000
  Charge counter: {charge_counter}
  status: {status}
  health: 2
  present: true
  level: {level}
  scale: 100
  voltage: {voltage_mv}
  temperature: 275
  technology: Li-ion
"""


def fake_phone(base: Path, serial: str, *, current_now: int, voltage_now: int, status: int = 3, ac: bool = False,
               usb: bool = False, level: int = 19, charge_counter: int = 0, voltage_mv: int = 3764,
               charge_full: int | None = None, drain_ua: float | None = None) -> Path:
    """A phone's file system for the fake adb: its battery sysfs files and a ``dumpsys`` command.

    ``drain_ua``: the ``Charge counter`` (µAh, whole numbers as phones print it) falls at this
    current from the moment the phone is made, as a live fuel gauge's does."""
    root = base / f"phone-{serial}"
    bat = root / "sys/class/power_supply/battery"
    write(bat / "current_now", current_now)
    write(bat / "voltage_now", voltage_now)
    if charge_full is not None:
        write(bat / "charge_full", charge_full)
    write(root / "dumpsys_battery.txt", DUMPSYS_BATTERY.format(
        ac=str(ac).lower(), usb=str(usb).lower(), status=status, level=level, charge_counter=charge_counter,
        voltage_mv=voltage_mv))
    dumpsys = root / "bin/dumpsys"
    dumpsys.parent.mkdir(parents=True, exist_ok=True)
    if drain_ua is None:
        dumpsys.write_text(f"#!/bin/sh\n[ \"$1\" = battery ] && exec cat {root}/dumpsys_battery.txt\n"
                           "echo \"Can't find service: $1\"\n")
    else:
        import time as _time
        dumpsys.write_text(
            f"#!{sys.executable}\nimport re, sys, time\n"
            f"if sys.argv[1:2] != ['battery']:\n    print(\"Can't find service\"); sys.exit(0)\n"
            f"text = open({str(root / 'dumpsys_battery.txt')!r}).read()\n"
            f"now = {charge_counter} - int({drain_ua!r} * (time.time() - {_time.time()!r}) / 3600)\n"
            "print(re.sub(r'Charge counter: -?\\d+', f'Charge counter: {now}', text), end='')\n")
    dumpsys.chmod(0o755)
    return root


def fake_adb(bin_dir: Path, phones: dict[str, Path]) -> Path:
    """An ``adb`` that serves the given fake phones: ``devices``, ``-s SERIAL shell [CMD...]`` and an
    interactive ``shell`` reading commands on stdin. Paths under /sys map into the phone's tree."""
    body = f"""
import subprocess
phones = {{k: str(v) for k, v in {dict((k, str(v)) for k, v in phones.items())!r}.items()}}
args = sys.argv[1:]
serial = None
if args[:1] == ['-s']:
    serial, args = args[1], args[2:]
if args[:1] == ['devices']:
    print('List of devices attached')
    for s in phones:
        print(f'{{s}}\\tdevice')
    sys.exit(0)
if serial is None:
    if len(phones) != 1:
        print('adb: more than one device/emulator', file=sys.stderr)
        sys.exit(1)
    serial = next(iter(phones))
if serial not in phones:
    print(f"adb: device '{{serial}}' not found", file=sys.stderr)
    sys.exit(1)
root = phones[serial]
env = {{'PATH': root + '/bin:/usr/bin:/bin'}}
def run(cmd):
    cmd = cmd.replace('/sys/', root + '/sys/')
    p = subprocess.run(['/bin/sh', '-c', cmd], capture_output=True, text=True, env=env)
    sys.stdout.write(p.stdout.replace('\\n', '\\r\\n'))  # adb shell with a pty ends lines in CRLF
    sys.stdout.flush()
if args[:1] == ['shell'] and len(args) > 1:
    run(' '.join(args[1:]))
    sys.exit(0)
if args == ['shell']:
    for line in sys.stdin:
        if line.strip() == 'exit':
            break
        run(line)
    sys.exit(0)
print('adb: usage: unknown command ' + ' '.join(args), file=sys.stderr)
sys.exit(1)
"""
    return fake_command(bin_dir, "adb", body)


# --- /proc/stat -------------------------------------------------------------------------

def write_proc_stat(proc_root: Path, user: int, nice: int, system: int, idle: int, iowait: int = 0,
                    irq: int = 0, softirq: int = 0, steal: int = 0) -> Path:
    """``<proc_root>/stat`` with an aggregate cpu line (jiffies) and two per-cpu lines."""
    agg = f"cpu  {user} {nice} {system} {idle} {iowait} {irq} {softirq} {steal} 0 0"
    per = [f"cpu{k} {user // 2} {nice // 2} {system // 2} {idle // 2} {iowait // 2} {irq // 2} {softirq // 2} "
           f"{steal // 2} 0 0" for k in range(2)]
    return write(proc_root / "stat", "\n".join([agg, *per, "intr 12345 0 0", "ctxt 987654", "btime 1790000000",
                                                "processes 4321", "procs_running 2", "procs_blocked 0"]))


def make_target(name: str = "rpi4", idle_w: float = 2.7, max_w: float = 6.4):
    """A real target profile object (validated by edgekit.targets.Target)."""
    from edgekit.targets import Target

    return Target.model_validate({
        "name": name, "family": "rpi", "description": "test profile", "arch": "aarch64", "cpu": "Cortex-A72",
        "cpu_cores": 4, "memory_mb": 4096, "os": "Raspberry Pi OS", "runtimes": ["onnxruntime"],
        "execution_providers": ["CPUExecutionProvider"], "precisions": ["fp32", "int8"],
        "preferred_precisions": ["int8"], "formats": ["onnx"], "max_ir_version": 9, "max_opset": 17,
        "onnxruntime_version": "1.18", "power_modes": [{"name": "default", "budget_w": 15.0}],
        "default_power_mode": "default", "thermal_limit_c": 85.0, "power_sensor": "external-meter",
        "estimate": {"idle_w": idle_w, "max_w": max_w},
    })


# --- thermal and cpufreq ----------------------------------------------------------------

def add_thermal_zone(root: Path, k: int, type_: str, temp_mc: int | None) -> Path:
    d = root / "class/thermal" / f"thermal_zone{k}"
    write(d / "type", type_)
    if temp_mc is not None:
        write(d / "temp", temp_mc)
    write(d / "mode", "enabled")
    write(d / "trip_point_0_temp", 100000)
    write(d / "trip_point_0_type", "critical")
    return d


def add_cooling_device(root: Path, k: int, type_: str, cur_state: int, max_state: int) -> Path:
    d = root / "class/thermal" / f"cooling_device{k}"
    write(d / "type", type_)
    write(d / "cur_state", cur_state)
    write(d / "max_state", max_state)
    return d


def add_cpufreq(root: Path, cpu: int, cur_khz: int, max_khz: int) -> Path:
    d = root / "devices/system/cpu" / f"cpu{cpu}" / "cpufreq"
    write(d / "scaling_cur_freq", cur_khz)
    write(d / "scaling_max_freq", max_khz)
    write(d / "cpuinfo_max_freq", max_khz)
    write(d / "scaling_min_freq", 115200)
    return d


def jetson_nano_thermal(root: Path, temps_mc=(39500, 36500, 36000, 34000, 100000, 36250)) -> None:
    """tegra210 zones 0..5: AO-therm, CPU-therm, GPU-therm, PLL-therm, PMIC-Die, thermal-fan-est."""
    for k, (t, mc) in enumerate(zip(["AO-therm", "CPU-therm", "GPU-therm", "PLL-therm", "PMIC-Die",
                                     "thermal-fan-est"], temps_mc)):
        add_thermal_zone(root, k, t, mc)
