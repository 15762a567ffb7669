"""Write a file so that readers see the old content or the new, never a part."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from edgekit.errors import EdgekitError

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(path: Path, needed: int, exc: OSError) -> EdgekitError:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 1024:.0f} KiB free"
    except OSError:
        free = "free space unknown"
    what = "disk quota exceeded" if exc.errno == errno.EDQUOT else "no space left on device"
    return EdgekitError(f"cannot write {path}: {what} ({needed / 1024:.1f} KiB needed, {free} on the disk of "
                        f"{path.parent}); free space there or write the file to another disk "
                        "(e.g. bench --out /tmp/result.json); nothing was written")


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Write ``data`` (text as UTF-8) to a temporary file beside ``path``, fsync it, then ``os.replace``.

    On any failure (a full disk, an interrupt) the temporary file is removed and ``path`` is untouched.
    A full disk (ENOSPC, EDQUOT) is an EdgekitError: one line naming the file, the space needed and free,
    and the fix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        if exc.errno in _FULL:
            raise _disk_full(path, len(blob), exc) from None
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _FULL:
            raise _disk_full(path, len(blob), exc) from None
        raise
