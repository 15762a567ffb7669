"""How the pipeline reports what it is doing: a small interface, a silent default, a rich one for the CLI."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, step: str, text: str) -> None: ...
    def done(self, step: str, text: str, *, cached: bool = False) -> None: ...
    def warn(self, text: str) -> None: ...


class SilentProgress:
    """Collects warnings (the summary repeats them) and prints nothing."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, step: str, text: str) -> None:
        pass

    def done(self, step: str, text: str, *, cached: bool = False) -> None:
        pass

    def warn(self, text: str) -> None:
        self.warnings.append(text)


class RichProgress:
    """A spinner per pass and one line when it ends, on stderr (stdout stays clean for --json)."""

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)
        self._status = None
        self.warnings: list[str] = []

    def start(self, step: str, text: str) -> None:
        self._stop()
        self._status = self.console.status(f"[bold]{step}[/bold] {text}")
        self._status.start()

    def done(self, step: str, text: str, *, cached: bool = False) -> None:
        self._stop()
        tag = " [dim](cached)[/dim]" if cached else ""
        self.console.print(f"[green]✓[/green] [bold]{step:<12}[/bold] {text}{tag}")

    def warn(self, text: str) -> None:
        self._stop()
        self.warnings.append(text)
        self.console.print(f"[yellow]![/yellow] {text}")

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
