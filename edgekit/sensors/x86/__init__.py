"""x86 host sources: Intel/AMD RAPL through the Linux powercap interface."""
