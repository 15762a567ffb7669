"""Small builders of fake sysfs trees and a live power writer for the bench tests and bench/bench_sampler.py.

File names and units are the real ones (shared/reference/power-sensors.md): INA3221 hwmon
``in<k>_label`` / ``in<k>_input`` (mV) / ``curr<k>_input`` (mA); powercap ``energy_uj`` (uJ);
thermal ``thermal_zone<N>/type`` + ``temp`` (m°C).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def write(path: Path, value) -> Path:
    """Write a sysfs attribute atomically (temp file + rename), so a concurrent reader never sees half a value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)
    return path


def orin_nano_hwmon(root: Path, *, vdd_in_mv: int = 5000, vdd_in_ma: int = 1000) -> Path:
    """Orin Nano (p3767) INA3221 at 1-0040: in1 VDD_IN, in2 VDD_CPU_GPU_CV, in3 VDD_SOC, 5 mOhm shunts."""
    d = root / "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    write(d.parent.parent / "name", "ina3221")
    for k, (label, mv, ma) in enumerate([("VDD_IN", vdd_in_mv, vdd_in_ma), ("VDD_CPU_GPU_CV", 5000, 160),
                                         ("VDD_SOC", 5000, 290)], start=1):
        write(d / f"in{k}_label", label)
        write(d / f"in{k}_input", mv)
        write(d / f"curr{k}_input", ma)
        write(d / f"shunt{k}_resistor", 5000)
    write(d / "in7_label", "sum of shunt voltages")
    write(d / "in7_input", 3000)
    return d


def set_vdd_in(hwmon: Path, mv: int, ma: int) -> None:
    write(hwmon / "curr1_input", ma)
    write(hwmon / "in1_input", mv)


def rapl_package(root: Path, *, energy_uj: int, max_range_uj: int) -> Path:
    d = root / "class/powercap/intel-rapl:0"
    write(d / "name", "package-0")
    write(d / "energy_uj", energy_uj)
    write(d / "max_energy_range_uj", max_range_uj)
    return d


def thermal_zone(root: Path, n: int, kind: str, temp_mc: int) -> Path:
    d = root / f"class/thermal/thermal_zone{n}"
    write(d / "type", kind)
    write(d / "temp", temp_mc)
    return d


class LivePowerWriter(threading.Thread):
    """Writes VDD_IN current following ``power_w(t)`` (t = seconds since start) every ``period_s``,
    and keeps the exact history of what the files held, so the true energy of any window is known."""

    def __init__(self, hwmon: Path, power_w, *, period_s: float = 0.001, mv: int = 5000):
        super().__init__(daemon=True)
        self.hwmon, self.power_w, self.period_s, self.mv = hwmon, power_w, period_s, mv
        self.history: list[tuple[float, float]] = []  # (monotonic t when the value became visible, watts)
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def _put(self, t_rel: float) -> None:
        ma = round(self.power_w(t_rel) * 1e6 / self.mv)
        write(self.hwmon / "curr1_input", ma)
        self.history.append((time.monotonic(), self.mv * ma / 1e6))

    def run(self) -> None:
        while not self._halt.is_set():
            self._put(time.monotonic() - self.t0)
            self._halt.wait(self.period_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def true_energy_j(self, t0: float, t1: float) -> float:
        """Integral of the piecewise-constant file content over [t0, t1]."""
        e = 0.0
        h = self.history
        for i, (t, w) in enumerate(h):
            nxt = h[i + 1][0] if i + 1 < len(h) else float("inf")
            a, b = max(t, t0), min(nxt, t1)
            if b > a:
                e += w * (b - a)
        return e


# --- a phone behind a fake adb --------------------------------------------------------------

DUMPSYS_DISCHARGING = """Current Battery Service state:
  AC powered: false
  USB powered: false
  Wireless powered: false
  Max charging current: 0
  Max charging voltage: 0
  Charge counter: 2650000
  status: 3
  health: 2
  present: true
  level: 71
  scale: 100
  voltage: 3850
  temperature: 275
  technology: Li-ion
"""

#: LiteRT benchmark_model output, in the format of real runs (INFO: prefix, percentile fields).
BENCHMARK_MODEL_OUT = """INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [{graph}]
INFO: Loaded model {graph}
INFO: The input model file size (MB): 0.16
INFO: Initialized session in 3.214ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=412 first=1610 curr=1190 min=1160 max=1610 avg=1213.4 std=41 p5=1170 median=1205 p95=1290

INFO: Running benchmark for at least {runs} iterations and at least {secs} seconds but terminate if exceeding 150 seconds.
INFO: count={count} first=1203 curr=1199 min={min_us} max={max_us} avg={avg_us} std=37 p5=1168 median={median_us} p95=1282

INFO: Inference timings in us: Init: 3214, First inference: 1610, Warmup (avg): 1213.4, Inference (avg): {avg_us}
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=2.3 overall=4.1
"""


def fake_benchmark_model(bin_dir: Path, *, avg_us: float = 1200.0) -> Path:
    """A host-side ``android_aarch64_benchmark_model`` that, once pushed and run, sleeps for
    --min_secs and prints benchmark_model's output for that many runs at ``avg_us``."""
    import stat
    import sys

    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "android_aarch64_benchmark_model"
    path.write_text(f"""#!{sys.executable}
import sys, time
args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--') and '=' in a)
secs = float(args.get('min_secs', '1'))
runs = int(args.get('num_runs', '50'))
avg = {avg_us!r}
time.sleep(secs)
count = max(runs, int(secs * 1e6 / avg))
print({BENCHMARK_MODEL_OUT!r}.format(graph=args['graph'], runs=runs, secs=secs, count=count, min_us=int(avg * 0.96),
      max_us=int(avg * 1.4), avg_us=avg, median_us=int(avg * 0.99)))
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_phone(root: Path, *, current_now: int, voltage_now: int, props: dict[str, str]) -> Path:
    """A phone's filesystem: battery sysfs (current_now, voltage_now, charge_full), /proc/cpuinfo
    with Arm Features, and the shell tools the host calls (dumpsys, getprop)."""
    import stat
    import sys

    bat = root / "sys/class/power_supply/battery"
    write(bat / "current_now", current_now)
    write(bat / "voltage_now", voltage_now)
    write(bat / "charge_full", 4000000)
    write(root / "proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm aes pmull "
                                  "sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n")
    (root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
    tools = {"dumpsys": f"print({DUMPSYS_DISCHARGING!r})",
             "getprop": f"print({props!r}.get(sys.argv[1], ''))"}
    for name, body in tools.items():
        p = root / "bin" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return root


def fake_adb(bin_dir: Path, serial: str, phone: Path) -> Path:
    """``adb [-s SERIAL] shell CMD`` / ``shell`` (commands on stdin) / ``push LOCAL REMOTE`` for one
    phone; /sys, /proc and /data paths map into the phone's tree; shell output ends lines in CRLF."""
    import stat
    import sys

    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "adb"
    path.write_text(f"""#!{sys.executable}
import os, shutil, subprocess, sys
root, serial = {str(phone)!r}, {serial!r}
args = sys.argv[1:]
if args[:1] == ['-s']:
    if args[1] != serial:
        print(f"adb: device '{{args[1]}}' not found", file=sys.stderr); sys.exit(1)
    args = args[2:]
def mapped(cmd):
    for d in ('/sys/', '/proc/', '/data/'):
        cmd = cmd.replace(d, root + d)
    return cmd
def run(cmd):
    env = dict(os.environ, PATH=root + '/bin:' + os.environ['PATH'])
    p = subprocess.run(['/bin/sh', '-c', mapped(cmd)], capture_output=True, text=True, env=env)
    sys.stdout.write(p.stdout.replace('\\n', '\\r\\n')); sys.stdout.flush()
    sys.stderr.write(p.stderr)
    return p.returncode
if args[:1] == ['push']:
    dst = mapped(args[2]); os.makedirs(os.path.dirname(dst), exist_ok=True); shutil.copy(args[1], dst)
    print(f"{{args[1]}}: 1 file pushed, 0 skipped."); sys.exit(0)
if args[:1] == ['shell'] and len(args) > 1:
    sys.exit(run(' '.join(args[1:])))
if args == ['shell']:
    for line in sys.stdin:
        if line.strip() == 'exit':
            break
        run(line)
    sys.exit(0)
print('adb: unknown command ' + ' '.join(args), file=sys.stderr); sys.exit(1)
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
