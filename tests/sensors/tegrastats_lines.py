"""tegrastats lines from the reference (DataDog jetson_test.go fixtures, jetson_stats tests).

NANO_L4T32 and ORIN_NX are verbatim. The reference elides the leading RAM/CPU/EMC part of
the Xavier NX, AGX Xavier and AGX Orin R36 lines ("..."); those parts are filled in with the
same fields the verbatim lines show. The JetPack 7 CPU list is shortened. Power and
temperature fields are verbatim in every line.
"""

NANO_L4T32 = ("RAM 534/3964MB (lfb 98x4MB) SWAP 5/1982MB (cached 1MB) IRAM 0/252kB(lfb 252kB) "
              "CPU [16%@204,9%@204,0%@204,0%@204] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 APE 25 PLL@34C CPU@36.5C "
              "PMIC@100C GPU@36C AO@39.5C thermal@36.25C POM_5V_IN 1022/1022 POM_5V_GPU 0/0 POM_5V_CPU 204/204")
XAVIER_NX = ("RAM 2329/7771MB (lfb 1x2MB) SWAP 0/3885MB (cached 0MB) CPU [2%@1190,0%@1190] EMC_FREQ 0%@1600 "
             "GR3D_FREQ 0%@114 APE 150 MTS fg 0% bg 0% AO@41.5C GPU@43C PMIC@100C AUX@41.5C CPU@43.5C "
             "thermal@42.55C VDD_IN 4067/4067 VDD_CPU_GPU_CV 738/738 VDD_SOC 1353/1353")
AGX_XAVIER = ("RAM 721/31927MB (lfb 7291x4MB) SWAP 0/15963MB (cached 0MB) CPU [2%@1190,0%@1190,0%@1190,0%@1190,"
              "off,off,off,off] EMC_FREQ 0%@665 GR3D_FREQ 0%@318 APE 150 MTS fg 0% bg 0% AO@38C GPU@38.5C "
              "Tdiode@38C PMIC@100C AUX@37.5C CPU@39C thermal@38.4C Tboard@35C "
              "GPU 0/0 CPU 311/311 SOC 932/932 CV 0/0 VDDRQ 621/621 SYS5V 1482/1482")
ORIN_NX = ("RAM 6334/15388MB (lfb 1770x4MB) SWAP 491/7694MB (cached 0MB) CPU [6%@729,9%@729,5%@729,16%@729,off,off,"
           "off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@611 VIC_FREQ 729 APE 174 CV0@45.812C CPU@47.937C SOC2@46.093C "
           "SOC0@46.968C CV1@46.406C GPU@45.875C tj@48.875C SOC1@48.875C CV2@45.75C VDD_IN 5299mW/5299mW "
           "VDD_CPU_GPU_CV 773mW/773mW VDD_SOC 1424mW/1424mW")
AGX_ORIN_R36 = ("RAM 2822/30697MB (lfb 6318x4MB) SWAP 0/15348MB (cached 0MB) CPU [1%@729,0%@729,0%@729,0%@729,"
                "0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0%@2133 GR3D_FREQ 10%@1300 cpu@53.062C soc2@48.25C "
                "soc0@48.843C gpu@47.812C tj@53.062C soc1@48.968C "
                "VDD_GPU_SOC 3205mW/3205mW VDD_CPU_CV 4405mW/4405mW VIN_SYS_5V0 4767mW/4767mW")
AGX_ORIN_JP7 = ("07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) CPU [23%@2201,0%@2201,off] EMC_FREQ 3%@3199 "
                "GR3D_FREQ 12%@[1300,1300] cpu@52.968C/52.968C soc2@48.406C/48.406C soc0@49.531C/49.531C "
                "gpu@47.625C/47.625C VDD_GPU_SOC 5139mW/5139mW/5139mW VDD_CPU_CV 3268mW/3268mW/3268mW "
                "VIN_SYS_5V0 5500mW/5500mW/5500mW")
