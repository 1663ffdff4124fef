"""Where output goes when the target is not a plain new file: a device, a FIFO, a symlink,
/dev/stdout, a writable file in a folder we may not write. Through the real command (the Python
package, or the binary with `just test-binary`), as root where the rule matters: as root a rename
over /dev/null succeeds, and replaced the device with a WAV file before this rule."""

import io
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import CLI, run_cli
from test_cli_voices import tiny_voice

SAY = ["--text", "Hello there.", "--noise-scale", "0", "--noise-w", "0"]
AS_ROOT = os.geteuid() == 0


def reference(tmp_path: Path) -> np.ndarray:
    """The same sentence written to a plain new file, the case the atomic write was made for."""
    plain = tmp_path / "plain.wav"
    assert run_cli(*SAY, "-o", str(plain)).returncode == 0
    return sf.read(plain, dtype="int16")[0]


def wav_bytes(data: bytes) -> np.ndarray:
    audio, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 22050
    return audio


def is_character_device(path: str) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


@contextmanager
def fifo_reader(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at `path` with a reader (as a player would be); yields what it read once closed."""
    os.mkfifo(path)
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as f:  # blocks until edgesay opens the other end
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield got
    finally:
        reader.join(timeout=120)
        assert not reader.is_alive(), "the reader never saw the end of the stream"


@contextmanager
def read_only_folder(folder: Path, writable: Path) -> Iterator[list[str]]:
    """Run prefix under which `folder` cannot be written but `writable` (inside it) can. As
    root, permissions do not stop us: a read-only bind mount in a private mount namespace does
    (the file is bind-mounted over itself, read-write); otherwise plain modes."""
    if not AS_ROOT:
        folder.chmod(0o555)
        try:
            yield []
        finally:
            folder.chmod(0o755)
        return
    # The file's own mount first: remounting the folder read-only then leaves it read-write.
    script = ('mount --bind "$1" "$1" && mount --bind "$2" "$2" && mount -o remount,ro,bind "$1" && '
              'shift 2 && exec "$@"')
    yield ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), str(writable)]


def test_dev_null_stays_a_device(tmp_path: Path) -> None:
    assert is_character_device("/dev/null")
    result = run_cli(*SAY, "-o", "/dev/null")
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    assert is_character_device("/dev/null")
    assert not [p for p in os.listdir("/dev") if p.startswith(".null.")]  # no temporary beside it


def test_nothing_is_created_in_dev(tmp_path: Path) -> None:
    result = run_cli(*SAY, "-o", "/dev/edgesay-test.wav")
    assert result.returncode == 4 and b"creates nothing there" in result.stderr
    result = run_cli("--output-dir", "/dev", stdin=b"Hi.\n")
    assert result.returncode == 4 and b"creates nothing there" in result.stderr
    assert not [p for p in os.listdir("/dev") if "edgesay" in p]


def test_a_fifo_gets_a_valid_wav_as_it_is_made(tmp_path: Path) -> None:
    expected = reference(tmp_path)
    pipe = tmp_path / "player"
    with fifo_reader(pipe) as got:
        result = run_cli(*SAY, "-o", str(pipe))
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert np.array_equal(wav_bytes(got[0]), expected)


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    expected = reference(tmp_path)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.wav"
    target.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.wav"
    dangling.symlink_to(tmp_path / "real" / "new.wav")
    for path in (link, dangling):
        result = run_cli(*SAY, "-o", str(path))
        assert result.returncode == 0, result.stderr
        assert path.is_symlink()
    assert np.array_equal(sf.read(target, dtype="int16")[0], expected)
    assert np.array_equal(sf.read(tmp_path / "real" / "new.wav", dtype="int16")[0], expected)
    assert sorted(os.listdir(tmp_path / "real")) == ["new.wav", "out.wav"]


def test_dev_stdout_is_the_same_stream_as_dash(tmp_path: Path) -> None:
    expected = reference(tmp_path)
    dash = run_cli(*SAY, "-o", "-")
    through = run_cli(*SAY, "-o", "/dev/stdout")
    assert dash.returncode == 0 and through.returncode == 0, through.stderr
    assert np.array_equal(wav_bytes(through.stdout), expected)
    assert through.stdout == dash.stdout
    # stdout appended to a file: the WAV starts where the shell's offset is, sizes patched.
    log = tmp_path / "log"
    log.write_bytes(b"x" * 10)
    with log.open("ab") as f:
        assert subprocess.run([*CLI, *SAY, "-o", "/dev/stdout"], stdout=f, timeout=120).returncode == 0
    data = log.read_bytes()
    assert data[:10] == b"x" * 10 and np.array_equal(wav_bytes(data[10:]), expected)


def test_a_writable_file_in_a_read_only_folder_is_written_in_place(tmp_path: Path) -> None:
    expected = reference(tmp_path)
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "out.wav"
    target.write_bytes(b"old")
    target.chmod(0o666)
    with read_only_folder(folder, target) as prefix:
        result = subprocess.run([*prefix, *CLI, *SAY, "-o", str(target)], capture_output=True, timeout=120)
        refused = subprocess.run([*prefix, *CLI, *SAY, "-o", str(folder / "new.wav")], capture_output=True,
                                 timeout=120)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(sf.read(target, dtype="int16")[0], expected)
    assert refused.returncode == 4 and b"not writable" in refused.stderr
    assert sorted(os.listdir(folder)) == ["out.wav"]


def test_output_dir_writes_through_what_is_already_there(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "edgesay-000001.wav").symlink_to(tmp_path / "elsewhere" / "one.wav")
    with fifo_reader(tmp_path / "edgesay-000002.wav") as got:
        result = run_cli("--output-dir", str(tmp_path), stdin=b"One.\nTwo.\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "edgesay-000001.wav").is_symlink()
    assert sf.read(tmp_path / "elsewhere" / "one.wav", dtype="int16")[0].size > 5000
    assert stat.S_ISFIFO(os.lstat(tmp_path / "edgesay-000002.wav").st_mode)
    assert wav_bytes(got[0]).size > 5000


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A tiny voice, prepared once into a cache of this module's own: each `prepare -o` below
    only copies the bundle."""
    folder = tmp_path_factory.mktemp("voice")
    env = {**os.environ, "EDGESAY_CACHE_DIR": str(folder / "cache")}
    model = tiny_voice(folder, "tiny-x_low", "en-us", "en_US")
    made = run_cli("prepare", str(model), "-o", str(folder / "first.edgesay"), env=env, timeout=600)
    assert made.returncode == 0, made.stderr
    return model, env


def test_prepare_writes_through_devices_fifos_links_and_locked_folders(voice: tuple[Path, dict[str, str]],
                                                                        tmp_path: Path) -> None:
    model, env = voice
    bundle = (model.parent / "first.edgesay").read_bytes()

    def prepare(output: Path | str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*(prefix or []), *CLI, "prepare", str(model), "-o", str(output)],
                              capture_output=True, env=env, timeout=600)

    result = prepare("/dev/null")
    assert result.returncode == 0 and is_character_device("/dev/null"), result.stderr
    with fifo_reader(tmp_path / "pipe") as got:
        assert prepare(tmp_path / "pipe").returncode == 0
    assert got[0] == bundle
    target = tmp_path / "voice.edgesay"
    (tmp_path / "link.edgesay").symlink_to(target)
    assert prepare(tmp_path / "link.edgesay").returncode == 0
    assert (tmp_path / "link.edgesay").is_symlink() and target.read_bytes() == bundle
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "v.edgesay").write_bytes(b"old")
    with read_only_folder(folder, folder / "v.edgesay") as prefix:
        result = prepare(folder / "v.edgesay", prefix)
    assert result.returncode == 0, result.stderr
    assert (folder / "v.edgesay").read_bytes() == bundle
    assert os.listdir(folder) == ["v.edgesay"]
