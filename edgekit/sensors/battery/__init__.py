"""Linux ``/sys/class/power_supply`` batteries (laptops, battery-powered boards)."""
