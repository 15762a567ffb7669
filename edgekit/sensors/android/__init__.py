"""Android phones driven from a host over adb."""
