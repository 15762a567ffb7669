"""Raspberry Pi sources: Pi 5 PMIC rails and firmware throttling flags, both through ``vcgencmd``."""
