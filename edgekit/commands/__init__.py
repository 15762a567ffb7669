"""The edgekit command line: one module per command, registered by :mod:`edgekit.commands.main`."""
