"""Files that appear whole or not at all: written under a temporary name beside the final one,
renamed into place when complete (rename is atomic within a folder), removed otherwise.

Every file edgesay writes for later goes through here: WAV files, voice bundles, the split
graphs and the cache of optimized graphs. A crash, an error or Ctrl-C therefore never leaves a
truncated file under the name a user or a later run will read.

A path a user names (`-o`, `--output-dir`, `prepare -o`, the TUI's save) goes through
`OutputFile`, because a rename only protects regular files: renaming over `/dev/null`, a FIFO or
a symlink replaces the node itself, so those are written through instead.
"""

import errno
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

# Paths that name a descriptor this process already holds: dup'ing it keeps the shell's offset
# and append mode, where reopening through /proc would start at byte 0.
_DESCRIPTOR = re.compile(r"/dev/(stdout|stderr|fd/(\d+))|/proc/self/fd/(\d+)")
_STANDARD = {"stdout": 1, "stderr": 2}
# Folders of device nodes and kernel files: nothing is ever created, renamed or removed there.
# /dev/shm is a RAM file system meant for ordinary files, which spare an SD card.
_SYSTEM = (Path("/dev"), Path("/proc"), Path("/sys"))
_RAM = Path("/dev/shm")
# A folder we may not write to gives one of these; the file itself may still be writable.
_NO_FOLDER = (errno.EACCES, errno.EPERM, errno.EROFS)


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


def _in_system_folder(path: Path) -> bool:
    def inside(folder: Path) -> bool:
        return path == folder or folder in path.parents
    return any(inside(folder) for folder in _SYSTEM) and not inside(_RAM)


def _descriptor(path: Path) -> int | None:
    match = _DESCRIPTOR.fullmatch(os.path.normpath(path))
    if match is None:
        return None
    name, fd_path, proc_fd = match.groups()
    return int(fd_path or proc_fd) if (fd_path or proc_fd) else _STANDARD[name]


def _classify(path: Path) -> tuple[str, Path, bool]:
    """What a path a user names is, for the rules below: (kind, where to write, exists). Kinds:
    "descriptor" (/dev/stdout and the like), "folder", "stream" (a device, FIFO or socket),
    "system" (under /dev, /proc or /sys), "file" (new or regular, through any symlinks)."""
    if _descriptor(path) is not None:
        return "descriptor", path, True
    try:
        status: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        status = None
    real = Path(os.path.realpath(path))
    if status is not None and stat.S_ISDIR(status.st_mode):
        return "folder", path, True
    if status is not None and not stat.S_ISREG(status.st_mode):
        return "stream", path, True
    if _in_system_folder(real) or _in_system_folder(Path(os.path.abspath(path))):
        return "system", path, status is not None
    return "file", real, status is not None


def _nothing_created(where: Path) -> str:
    return f"no such file in {where.parent} (edgesay creates nothing there)"


def why_unwritable(path: Path) -> str | None:
    """Why `OutputFile(path)` would fail, by the same rules, checked before any work starts;
    None when it should succeed."""
    kind, where, exists = _classify(path)
    if kind == "descriptor":
        return None
    if kind == "folder":
        return "it is a folder"
    if kind == "stream":
        return None if os.access(where, os.W_OK) else "it is not writable"
    if kind == "system" and not exists:
        return _nothing_created(Path(os.path.realpath(path)))
    if not where.parent.is_dir():
        return f"folder {where.parent} does not exist"
    if os.access(where.parent, os.W_OK) or (exists and os.access(where, os.W_OK)):
        return None
    return f"folder {where.parent} is not writable"


class OutputFile:
    """A file a user named, opened for writing by what is there:

    - nothing, or a regular file (through any symlinks): written beside the file the links name
      and renamed over it when complete, as `PendingFile` does;
    - a device, FIFO or socket, or anything under /dev, /proc or /sys: opened and written as it
      is, never created, renamed or removed (`/dev/stdout` and `/dev/fd/N` reuse the descriptor);
    - a writable regular file in a folder we may not write: written in place; if the write does
      not complete, it is left empty rather than half-written.

    `stream` is where to write."""

    def __init__(self, path: Path, suffix: str = ".part") -> None:
        self.path = path
        self._pending: PendingFile | None = None
        self._owned_regular = False  # in place, opened and truncated by us
        kind, where, exists = _classify(path)
        if kind == "descriptor":
            fd = _descriptor(path)
            assert fd is not None  # classified so
            self.stream: BinaryIO = os.fdopen(os.dup(fd), "wb")
        elif kind == "folder":
            raise IsADirectoryError(errno.EISDIR, "it is a folder", str(path))
        elif kind == "stream":
            self.stream = self._open_in_place(where, truncate=False)
        elif kind == "system":
            if not exists:
                raise FileNotFoundError(errno.ENOENT, _nothing_created(Path(os.path.realpath(path))), str(path))
            self.stream = self._open_in_place(where, truncate=True)
        else:
            try:
                self._pending = PendingFile(where, suffix=suffix, public=True)
            except OSError as exc:
                if not exists or exc.errno not in _NO_FOLDER or not os.access(where, os.W_OK):
                    raise
                self.stream = self._open_in_place(where, truncate=True)
                return
            self.stream = self._pending.tmp.open("wb")

    def _open_in_place(self, path: Path, truncate: bool) -> BinaryIO:
        # Never O_CREAT: whatever is written in place already exists.
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | (os.O_TRUNC if truncate else 0))
        self._owned_regular = truncate and stat.S_ISREG(os.fstat(fd).st_mode)
        return os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.stream.close()
        if self._pending is not None:
            self._pending.commit()

    def discard(self) -> None:
        try:
            if self._owned_regular and not self.stream.closed:
                self.stream.truncate(0)
        except OSError:
            pass
        finally:
            self.stream.close()
            if self._pending is not None:
                self._pending.discard()

    def __enter__(self) -> "OutputFile":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self.discard()  # after a commit: only the temporary name, if the rename failed
