"""Reading rows with their line numbers and writing files atomically (temp file + rename: never half-written)."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from data.records import DataError

BOM = b"\xef\xbb\xbf"
NEARLY_FULL_BYTES = 1 << 20  # a write that failed with less than this free is taken as a full disk
FULL_WORDS = ("No space left on device", "os error 28", "Disk quota exceeded", "os error 122")


class DiskFull(DataError):
    """A write ran out of disk space; the message names the folder, its free space and what was kept."""


def count_lines(path: Path) -> int:
    """Fast line count for progress bars (reads bytes in 1 MiB blocks)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def is_disk_full(exc: BaseException, folder: str | Path) -> bool:
    """Whether `exc` came from a full disk under `folder`. Writers say it differently: open/write raise ENOSPC,
    safetensors wraps "os error 28" in its own error, torch.save only says "unexpected pos", so a write that
    failed while the disk has (almost) nothing free counts too."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(words in str(seen) for words in FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return isinstance(exc, (OSError, RuntimeError)) and free_bytes(folder) < NEARLY_FULL_BYTES


def free_bytes(folder: str | Path) -> int:
    """Free space on the disk holding `folder` (its nearest existing parent); a huge number when unknown."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def disk_full_message(folder: str | Path, what: str, kept: str) -> str:
    """The one sentence for a full disk: which disk, how much is free, what was not written and what was kept."""
    return (f"The disk holding {folder} is full ({free_bytes(folder) / 2**20:.1f} MiB free): {what} was not written, "
            f"and {kept}. Free some space and try again.")


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w"):
    """Open a temp file next to `path`; rename it into place only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = f"the previous {path.name} is unchanged" if path.exists() else "nothing was left behind"
            raise DiskFull(disk_full_message(path.parent, path.name, kept)) from None
        raise


def replace_folder(partial: Path, target: Path) -> None:
    """Put a finished `partial` folder in `target`'s place: the old one moves aside first and goes last, so a
    crash at any moment leaves a whole folder under one of the two names, never a half one under `target`."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
