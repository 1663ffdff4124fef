"""Files that appear whole or not at all: written under a temporary name beside the final one,
renamed into place when complete (rename is atomic within a folder), removed otherwise.

Every file edgesay writes for later goes through here: WAV files, voice bundles, the split
graphs and the cache of optimized graphs. A crash, an error or Ctrl-C therefore never leaves a
truncated file under the name a user or a later run will read.
"""

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType


class PendingFile:
    """`tmp` is where to write; `commit()` renames it to `path`; anything else removes it.

    As a context manager it commits when the block ends normally. `public` gives the file the
    mode a plain `open()` would (mkstemp makes it private), for files handed to a user."""

    def __init__(self, path: Path, suffix: str = ".tmp", public: bool = False) -> None:
        self.path = path
        folder = path.parent if str(path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        if public:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "PendingFile":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self.discard()


class PendingDir:
    """The same for a folder: built in `tmp`, renamed to `path` by `commit()`. If another process
    got there first, its folder is kept and ours removed (both hold the same content)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))

    def commit(self) -> None:
        try:
            os.replace(self.tmp, self.path)
        except OSError:  # another process won the race
            self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "PendingDir":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
