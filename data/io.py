"""Reading rows with their line numbers and writing files atomically (temp file + rename: never half-written)."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

BOM = b"\xef\xbb\xbf"


def count_lines(path: Path) -> int:
    """Fast line count for progress bars (reads bytes in 1 MiB blocks)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


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
            from data.records import DataError

            free = shutil.disk_usage(path.parent).free
            kept = f"the previous {path.name} is unchanged" if path.exists() else "nothing was left behind"
            raise DataError(f"The disk holding {path.parent} is full ({free / 2**20:.1f} MiB free): {path.name} "
                            f"was not written, and {kept}. Free some space and try again.") from None
        raise
