"""Files written whole or not at all, and the leftovers of writers killed mid-write.

Every file the project writes goes to a temp sibling named after its writer's pid, is fsynced,
renamed over the target and the folder fsynced: a SIGKILL leaves the old file or the new one,
never part of one, and a later sweep removes the temps whose writer is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

# Temp files carry their writer's pid, so a sweep can tell a killed writer's leftovers (pid gone)
# from a live write (never touched): ``.<target>.<pid>-<random>.tmp`` (a file or an inbox folder).
_TEMP = re.compile(r"^\.(?P<target>.+)\.(?:(?P<pid>\d+)-)?[0-9a-f]{8,32}\.(?:tmp|plain)$")
# A temp without a pid (older code) is stale once it is this old.
_UNOWNED_TEMP_SECONDS = 600


def temp_path(target: Path, suffix: str = "tmp") -> Path:
    """A hidden sibling of ``target`` to write before renaming over it, owned by this process."""
    return target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:16]}.{suffix}")


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_temp(path: Path) -> bool:
    """A temp file or folder whose writer is gone (killed mid-write): safe to remove."""
    match = _TEMP.match(path.name)
    if match is None:
        return False
    if match["pid"] is not None:
        return not pid_alive(int(match["pid"]))
    with contextlib.suppress(FileNotFoundError):
        return time.time() - path.lstat().st_mtime > _UNOWNED_TEMP_SECONDS
    return False


def sweep_stale_temps(root: Path, target: str | None = None, recursive: bool = True) -> int:
    """Remove what killed writers left below ``root`` (or beside ``target`` only); returns count.

    A SIGKILL between writing a temp and renaming it leaves the temp; the rename itself is atomic,
    so the target is either absent, the old file or the new one, never partial.
    """
    if not root.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(root):
        path = Path(entry.path)
        match = _TEMP.match(entry.name)
        if match is not None:
            if (target is None or match["target"] == target) and is_stale_temp(path):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        elif recursive and target is None and entry.is_dir(follow_symlinks=False):
            removed += sweep_stale_temps(path)
    return removed


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a crash after it keeps the new name)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: Path, target: Path) -> None:
    """Fsync ``tmp``'s bytes, rename it over ``target`` and fsync the folder."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Replace ``path`` whole: ``write`` fills a temp sibling, which is then renamed over it.

    A killed earlier writer's temp beside ``path`` is swept first; on any error the temp goes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent, target=path.name)
    tmp = temp_path(path)
    try:
        write(tmp)
        replace_durably(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
