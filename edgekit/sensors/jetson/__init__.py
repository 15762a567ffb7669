"""NVIDIA Jetson power sources: INA3221 (hwmon and iio drivers), tegrastats, nvpmodel."""
