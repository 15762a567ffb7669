"""The device side of the fleet: agent, reporter, spool and one-shot delivery."""
