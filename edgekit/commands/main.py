"""The ``edgekit`` command: a thin dispatcher over the command modules of :mod:`edgekit.commands`.

Each command module has ``register(subparsers)``; the function it registers
(``args.func``) does the work and returns an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from edgekit import __version__
from edgekit.commands import agent, bench, build, collect, demo, fleet, models, sweep, targets, toolchain
from edgekit.errors import EdgekitError

#: Modules that register sub-commands, in the order they appear in --help.
COMMAND_MODULES = (targets, build, toolchain, models, bench, sweep, collect, fleet, agent, demo)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgekit",
        description="Build models for edge devices, measure what they cost in energy, "
        "and keep a fleet within its power budgets.",
    )
    parser.add_argument("--version", action="version", version=f"edgekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so every ``with`` and ``finally`` on the way out runs: a build's
    temporary directories are removed and its subprocesses killed, as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def _sigterm_unwinds():
    """While a command runs, SIGTERM unwinds the stack instead of killing the process where it stands.

    Only when SIGTERM has its default action (a caller embedding ``main`` keeps its own handler); commands
    that serve until stopped (``agent``, ``collect``) install their own graceful handler on top.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _sigterm_unwinds():
            return int(args.func(args) or 0)
    except Terminated:
        print("edgekit: stopped by SIGTERM", file=sys.stderr)
        return 143
    except EdgekitError as exc:
        print(f"edgekit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgekit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # Full disk, permissions, missing files that slipped past validation.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"edgekit: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
