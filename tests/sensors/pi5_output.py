"""``vcgencmd pmic_read_adc`` output of a Pi 5 (reference: Zeus test capture, Pi 5 Model B Rev 1.0).

All ``_A`` lines, and the 3V7_WL_SW_V, VDD_CORE_V, HDMI_V, EXT5V_V and BATT_V lines, are
verbatim. The reference elides the other ``_V`` lines; they are filled in with each rail's
nominal voltage and channel numbers 9-14 and 19-21 in the same format.
"""

CURRENTS_A = {
    "3V7_WL_SW": 0.09368929, "3V3_SYS": 0.08783370, "1V8_SYS": 0.18054710, "DDR_VDD2": 0.22543980,
    "DDR_VDDQ": 0.06666720, "1V1_SYS": 0.17566740, "0V8_SW": 0.37670900, "VDD_CORE": 6.22421000,
    "3V3_DAC": 0.00006105, "3V3_ADC": 0.00036630, "0V8_AON": 0.00305250, "HDMI": 0.02417580,
}
VOLTS_V = {
    "3V7_WL_SW": 3.69977600, "3V3_SYS": 3.30000000, "1V8_SYS": 1.80000000, "DDR_VDD2": 1.10000000,
    "DDR_VDDQ": 0.60000000, "1V1_SYS": 1.10000000, "0V8_SW": 0.80000000, "VDD_CORE": 0.86173300,
    "3V3_DAC": 3.30000000, "3V3_ADC": 3.30000000, "0V8_AON": 0.80000000, "HDMI": 5.08664000,
}

PMIC_READ_ADC = """\
 3V7_WL_SW_A current(0)=0.09368929A
   3V3_SYS_A current(1)=0.08783370A
   1V8_SYS_A current(2)=0.18054710A
  DDR_VDD2_A current(3)=0.22543980A
  DDR_VDDQ_A current(4)=0.06666720A
   1V1_SYS_A current(5)=0.17566740A
    0V8_SW_A current(6)=0.37670900A
  VDD_CORE_A current(7)=6.22421000A
   3V3_DAC_A current(17)=0.00006105A
   3V3_ADC_A current(18)=0.00036630A
   0V8_AON_A current(16)=0.00305250A
      HDMI_A current(22)=0.02417580A
 3V7_WL_SW_V volt(8)=3.69977600V
   3V3_SYS_V volt(9)=3.30000000V
   1V8_SYS_V volt(10)=1.80000000V
  DDR_VDD2_V volt(11)=1.10000000V
  DDR_VDDQ_V volt(12)=0.60000000V
   1V1_SYS_V volt(13)=1.10000000V
    0V8_SW_V volt(14)=0.80000000V
  VDD_CORE_V volt(15)=0.86173300V
   3V3_DAC_V volt(20)=3.30000000V
   3V3_ADC_V volt(21)=3.30000000V
   0V8_AON_V volt(19)=0.80000000V
      HDMI_V volt(23)=5.08664000V
     EXT5V_V volt(24)=5.09066000V
      BATT_V volt(25)=0.00000000V
"""

NOT_REGISTERED = 'error=1 error_msg="Command not registered"\n'


def fake_vcgencmd_body(pmic: str | None = PMIC_READ_ADC, throttled: str = "throttled=0x0",
                       scale_file: str | None = None) -> str:
    """Python body for a fake ``vcgencmd``; ``scale_file`` (a path) holds a factor applied to currents."""
    return f"""
pmic = {pmic!r}
scale_file = {scale_file!r}
cmd = sys.argv[1] if len(sys.argv) > 1 else ''
if cmd == 'pmic_read_adc':
    if pmic is None:
        print('error=1 error_msg="Command not registered"')
        sys.exit(0)
    k = float(open(scale_file).read()) if scale_file else 1.0
    import re
    out = []
    for line in pmic.splitlines():
        m = re.match(r"(.*current\\(\\d+\\)=)([\\d.]+)A$", line)
        out.append(f"{{m.group(1)}}{{float(m.group(2)) * k:.8f}}A" if m else line)
    print("\\n".join(out))
elif cmd == 'get_throttled':
    print({throttled!r})
elif cmd == 'measure_temp':
    print("temp=45.2'C")
else:
    print(f'error=1 error_msg="Command not registered"')
"""
