"""The allocator settings a long-running server uses (system/memory.py), on this machine's glibc."""

import ctypes
import subprocess
import sys
import time

from edgesay.system import memory
from edgesay.system.sysinfo import rss_mb


def test_trimming_gives_freed_memory_back_to_the_system():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4000) for _ in range(20_000)]  # 80 MB below the mmap threshold
    for block in blocks:
        ctypes.memset(block, 1, 4000)
    for block in blocks[:-1]:  # the last one pins the heap's top: free() alone returns nothing
        libc.free(block)
    before = rss_mb()
    trim = memory.Trimmer(interval=0)
    assert trim()
    deadline = time.monotonic() + 10
    while trim._running.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    after = rss_mb()
    libc.free(blocks[-1])
    assert before is not None and after is not None
    assert before - after > 40, f"RSS {before:.0f} -> {after:.0f} MB"


def test_trimming_runs_at_most_once_per_interval():
    trim = memory.Trimmer(interval=60)
    assert trim()
    assert not trim()


def test_arenas_are_limited_before_threads_start():
    # In a fresh process: 8 threads that allocate at once share at most 2 arenas (glibc's
    # default would give each its own).
    code = """
import ctypes, threading
from edgesay.system import memory
assert memory.limit_arenas(2)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
start = threading.Barrier(8)
def work():
    start.wait()
    for _ in range(2000):
        libc.free(libc.malloc(1000))
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
maps = open("/proc/self/maps").read().splitlines()
anonymous = [m for m in maps if m.split()[1:] == ["rw-p", "00000000", "00:00", "0"]]
arenas = [m for m in anonymous if int(m.split("-")[0], 16) % (64 << 20) == 0]
print(len(arenas))
"""
    limited = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    free = int(subprocess.run([sys.executable, "-c", code.replace("assert memory.limit_arenas(2)", "")],
                              capture_output=True, text=True, check=True).stdout)
    assert limited <= 1 < free  # the main arena is the heap, not an aligned mapping
