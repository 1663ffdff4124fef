"""A patched copy of Nuitka whose onefile bootstrap starts an already unpacked build at once.

Nuitka's cached onefile mode (4.3.3) checks the cache on every start by decompressing the
whole payload and CRC-ing every unpacked file: about 180 MB for edgesay, 0.5 s of each start on
the x86_64 dev VM before any Python runs, and more on a Raspberry Pi. Our cache directory is
named after the build's content hash (build.py), so a complete unpacking of it never goes
stale. The patch makes the bootstrap write a marker (holding the path of the program to run)
after a complete unpacking, and skip straight to running that program when the marker and the
program exist. Delete ~/.cache/edgesay/bin to force unpacking again.

The copy lives in the build output folder; the installed Nuitka is left alone. A Nuitka whose
bootstrap does not contain the anchors below stops the build (patching blind would be worse).
"""

import shutil
from pathlib import Path

MARKER = ".edgesay-unpacked"

# Before the unpacking loop: the fast path.
_LOOP_ANCHOR = '''    NUITKA_PRINT_TIMING("ONEFILE: Entering decompression.");
'''
_LOOP_PATCH = '''    NUITKA_PRINT_TIMING("ONEFILE: Entering decompression.");

    // edgesay: a complete unpacking of this very build (its directory is named after its content
    // hash) left a marker naming the program to run; trust it instead of decompressing and
    // CRC-checking the whole payload on every start.
    bool edgesay_unpacked = false;
    static char edgesay_marker[4096] = {0};
    snprintf(edgesay_marker, sizeof(edgesay_marker), "%s/%s", payload_path, "''' + MARKER + '''");
    {
        FILE *marker_file = fopen(edgesay_marker, "rb");
        if (marker_file != NULL) {
            static char edgesay_first[4096] = {0};
            size_t got = fread(edgesay_first, 1, sizeof(edgesay_first) - 1, marker_file);
            fclose(marker_file);
            edgesay_first[got] = 0;
            if (got > 0 && access(edgesay_first, X_OK) == 0) {
                first_filename[0] = 0;
                appendStringSafeFilename(first_filename, edgesay_first,
                                         sizeof(first_filename) / sizeof(filename_char_t));
                edgesay_unpacked = true;
            }
        }
    }

    while (!edgesay_unpacked) {
'''
_FOR = "    for (;;) {\n        filename_char_t *filename = readPayloadFilename();\n"
_FOR_PATCHED = "        filename_char_t *filename = readPayloadFilename();\n"

# After the loop: write the marker (atomically: a half-written one must never be trusted).
_END_ANCHOR = '''    NUITKA_PRINT_TIMING("ONEFILE: Finishing decompression, cleanup payload.");
'''
_END_PATCH = '''    if (!edgesay_unpacked) {
        static char edgesay_tmp[4096] = {0};
        snprintf(edgesay_tmp, sizeof(edgesay_tmp), "%s.%d", edgesay_marker, (int)getpid());
        FILE *marker_file = fopen(edgesay_tmp, "wb");
        if (marker_file != NULL) {
            bool written = fputs(first_filename, marker_file) >= 0;
            written = (fclose(marker_file) == 0) && written;
            if (!written || rename(edgesay_tmp, edgesay_marker) != 0) {
                unlink(edgesay_tmp);
            }
        }
    }

    NUITKA_PRINT_TIMING("ONEFILE: Finishing decompression, cleanup payload.");
'''


def patched_nuitka(out: Path) -> Path:
    """Copy the installed Nuitka into `out`/nuitka-patched and patch it; returns the folder to
    put first on PYTHONPATH."""
    import nuitka

    source = Path(nuitka.__file__).resolve().parent
    target_root = out / "nuitka-patched"
    target = target_root / "nuitka"
    if target_root.exists():
        shutil.rmtree(target_root)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    bootstrap = target / "build" / "static_src" / "OnefileBootstrap.c"
    text = bootstrap.read_text()
    for anchor in (_LOOP_ANCHOR, _FOR, _END_ANCHOR):
        if text.count(anchor) != 1:
            raise SystemExit(f"build: Nuitka's onefile bootstrap changed ({anchor.strip()[:50]!r}); "
                             "update build/onefile_fastpath.py for this Nuitka")
    text = text.replace(_LOOP_ANCHOR, _LOOP_PATCH).replace(_FOR, _FOR_PATCHED).replace(_END_ANCHOR, _END_PATCH)
    bootstrap.write_text(text)
    return target_root
