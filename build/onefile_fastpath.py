"""A patched copy of Nuitka whose onefile bootstrap starts an already unpacked build at once.

Nuitka's cached onefile mode (4.3.3) checks the cache on every start by decompressing the
whole payload and CRC-ing every unpacked file: about 180 MB for edgesay, 0.5 s of each start on
the x86_64 dev VM before any Python runs, and more on a Raspberry Pi. Our cache directory is
named after the build's content hash (build.py), so a complete unpacking of it never goes
stale. The patch makes the bootstrap write a marker (holding the path of the program to run)
after a complete unpacking, and skip straight to running that program when the marker and the
program exist. Delete ~/.cache/edgesay/bin to force unpacking again.

The patch also makes the bootstrap exec the program instead of forking it and waiting. Nuitka's
parent forwards SIGINT/SIGTERM to its child, but a signal that came before the child existed was
swallowed (the program then ran to the end) and one in the parent's own first moments could leave
the child running alone. With exec there is one process: until the program runs, a stop request
ends the start with the program's own line and exit status; from the exec on, SIGINT and SIGTERM
are blocked, so one arriving while Python starts is held (pending signals survive exec) until
app/edgesay/__main__.py has installed its handlers and unblocks them. The cached mode leaves
nothing to clean up after the program, which was the parent's only other job.

The bootstrap is a static musl executable (zig, `-target <machine>-linux-musl -static`: the
patched freezer hands the onefile build its own compiler, `bootstrap_zig`), and it execs the
program through the glibc loader carried in the payload (build/runtime.py) with the payload's
library path, `--inhibit-cache` and `--argv0` (the binary's own path): nothing of the device's C
library is used, and nothing like LD_LIBRARY_PATH reaches the program's children. Without a
writable home (no HOME, no passwd entry: an empty root, a service account) the cache goes to
$TMPDIR/edgesay-<uid>, a private folder (edgesay.system.paths.cache_base does the same).

The copy lives in the build output folder; the installed Nuitka is left alone. A Nuitka whose
bootstrap does not contain the anchors below stops the build (patching blind would be worse).
"""

import shutil
from pathlib import Path

from runtime import LOADER, RUNTIME_DIR

MARKER = ".edgesay-unpacked"

# Before main(): the handler for a stop request while the bootstrap itself runs.
_HANDLER_ANCHOR = '''#ifdef _NUITKA_ONEFILE_SPLASH_SCREEN
#ifdef __cplusplus
'''
_HANDLER_PATCH = r'''#if !defined(_WIN32)
// edgesay: nothing is written yet but perhaps part of an unpacking, which has no marker and so is
// CRC-checked and completed on the next start. Say what the program says on a stop, and go.
static void edgesayStopWhileStarting(int sig) {
    (void)sig;
    static char const message[] = "edgesay: interrupted\n";
    ssize_t written = write(2, message, sizeof(message) - 1);
    (void)written;
    _exit(130);
}

static void edgesayOnStop(int sig) {
    struct sigaction previous;
    // Ignored on entry stays ignored (and so for the program after exec): a script's background
    // job is meant to outlive the Ctrl-C typed at its terminal.
    if (sigaction(sig, NULL, &previous) == 0 && previous.sa_handler != SIG_IGN) {
        signal(sig, edgesayStopWhileStarting);
    }
}
#endif

''' + _HANDLER_ANCHOR

# First thing in main(), instead of Nuitka's forwarding handler (installed later, and of no use
# without a child).
_MAIN_ANCHOR = '''    NUITKA_PRINT_TIMING("ONEFILE: Entered main().");
'''
_MAIN_PATCH = _MAIN_ANCHOR + '''
#if !defined(_WIN32)
    edgesayOnStop(SIGINT);
    edgesayOnStop(SIGTERM);
#endif
'''
_FORWARD = '''            sigaction(SIGINT, &sa, NULL);
            sigaction(SIGQUIT, &sa, NULL);
            sigaction(SIGTERM, &sa, NULL);
'''
_FORWARD_PATCHED = '''            (void)sa; // edgesay: no child to forward to, the program is exec'd
'''

# Instead of fork + wait: exec, with the stop signals held for the program.
_FORK = '''    pid_t pid = fork();
    int exit_code;
'''
_FORK_PATCH = '''#if _NUITKA_ONEFILE_TEMP_BOOL
#error "edgesay: exec instead of fork needs the cached onefile mode (nothing to clean up after)"
#endif
    {
        sigset_t edgesay_stops;
        sigemptyset(&edgesay_stops);
        sigaddset(&edgesay_stops, SIGINT);
        sigaddset(&edgesay_stops, SIGTERM);
        sigprocmask(SIG_BLOCK, &edgesay_stops, NULL);

        // Read by one thing only: a thread in the program that polls once a second for its
        // forking parent to die. Without a parent, it would watch itself for ever.
        unsetenv("NUITKA_ONEFILE_PARENT");
        // The program runs on the C library the payload carries (build/runtime.py): its loader,
        // the payload's libraries first and only (no ld.so.cache), argv[0] the binary's path.
        static char edgesay_loader[4096] = {0};
        static char edgesay_libraries[8192] = {0};
        snprintf(edgesay_loader, sizeof(edgesay_loader), "%s/%s", payload_path, "''' + LOADER + '''");
        snprintf(edgesay_libraries, sizeof(edgesay_libraries), "%s/%s:%s", payload_path, "''' + RUNTIME_DIR + '''",
                 payload_path);
        char **edgesay_argv = (char **)malloc((argc + 8) * sizeof(char *));
        if (edgesay_argv == NULL) {
            fatalErrorMemory();
        }
        int edgesay_argc = 0;
        edgesay_argv[edgesay_argc++] = edgesay_loader;
        edgesay_argv[edgesay_argc++] = (char *)"--library-path";
        edgesay_argv[edgesay_argc++] = edgesay_libraries;
        edgesay_argv[edgesay_argc++] = (char *)"--inhibit-cache";
        edgesay_argv[edgesay_argc++] = (char *)"--argv0";
        edgesay_argv[edgesay_argc++] = (char *)getBinaryPath();
        edgesay_argv[edgesay_argc++] = (char *)fork_binary;
        for (int i = 1; i < argc; i++) {
            edgesay_argv[edgesay_argc++] = argv[i];
        }
        edgesay_argv[edgesay_argc] = NULL;
        for (int retry_count = 0; retry_count < 10; retry_count++) {
            execv(edgesay_loader, edgesay_argv);
            if (errno != ETXTBSY) {
                break;
            }
            usleep(100000); // another start may still be writing the program
        }
        int error_code = errno;
        sigprocmask(SIG_UNBLOCK, &edgesay_stops, NULL);
        fatalErrorChild("Error, couldn't launch child (exec)", error_code);
    }

''' + _FORK

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


# The cache folder when XDG_CACHE_HOME is not set: the home's .cache if there is a home this user
# can write (HOME, else the passwd entry), else a private folder under $TMPDIR. Nuitka's own
# expansion aborts without HOME and a passwd entry, which an empty root or a service account has not.
_CACHE_ANCHOR = """                } else {
                    if (expandTemplatePath(target, "{HOME}/.cache", buffer_size - strlen(target)) == false) {
                        return false;
                    }
                }
"""
_CACHE_PATCH = """                } else {
                    char edgesay_base[4096];
                    edgesayCacheBase(edgesay_base, sizeof(edgesay_base));
                    appendStringSafe(target, edgesay_base, buffer_size);
                }
"""
_CACHE_FUNCTION_ANCHOR = "bool expandTemplatePath(char *target, char const *source, size_t buffer_size) {\n"
_CACHE_FUNCTION = r"""// edgesay: the same rule as edgesay.system.paths.cache_base, in the bootstrap.
static void edgesayCacheBase(char *base, size_t size) {
    char const *home = getenv("HOME");
    if (home == NULL || home[0] != '/') {
        struct passwd *pw_data = getpwuid(getuid());
        home = pw_data != NULL ? pw_data->pw_dir : NULL;
    }
    if (home != NULL && home[0] == '/' && access(home, W_OK) == 0) {
        snprintf(base, size, "%s/.cache", home);
        return;
    }
    char const *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/') {
        tmp = "/tmp";
    }
    snprintf(base, size, "%s/edgesay-%ld", tmp, (long)getuid());
    struct stat st;
    // /tmp is shared: use only a folder of this user's that nobody else can write, since the
    // program is started from it.
    if ((mkdir(base, 0700) != 0 && errno != EEXIST) || lstat(base, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != getuid() || (st.st_mode & 022) != 0) {
        fprintf(stderr, "edgesay: no cache folder: no writable home, and %s is not a private folder of this "
                        "user; set XDG_CACHE_HOME\n", base);
        exit(1);
    }
}

""" + _CACHE_FUNCTION_ANCHOR

# The onefile bootstrap gets its own compiler (the static musl zig of build.py), whatever
# compiles the program.
_COMPILER_ANCHOR = "    scons_options, env_values = getCommonSconsOptions()\n"
# (Both: with --zig, Nuitka links with `zig_exe_path` whatever compiles.)
_COMPILER_PATCH = _COMPILER_ANCHOR + \
    "    env_values['CC'] = os.environ['EDGESAY_BOOTSTRAP_ZIG']  # edgesay: a static bootstrap\n" \
    "    scons_options['zig_exe_path'] = env_values['CC']\n"

# Nuitka turns its own folder's path into a wide string with the environment's locale, else
# C.UTF-8, and aborts when neither exists: exactly the case of the carried glibc on a musl system or
# in an empty root with LANG set (the device's locale files are not ours to read). Linux paths are
# bytes, almost always UTF-8: decode them as such before giving up.
_WIDE_ANCHOR = """    if (!converted) {
        abort();
    }
#else
"""
_WIDE_PATCH = """    if (!converted) {
        // edgesay: no usable locale at all; decode UTF-8 by hand.
        unsigned char const *byte = (unsigned char const *)source;
        size_t written = 0;
        converted = true;
        while (*byte != 0) {
            unsigned long code = *byte;
            int more = code < 0x80 ? 0 : (code & 0xE0) == 0xC0 ? 1 : (code & 0xF0) == 0xE0 ? 2
                     : (code & 0xF8) == 0xF0 ? 3 : -1;
            if (more < 0 || written + 1 >= buffer_size) {
                converted = false;
                break;
            }
            code &= more == 0 ? 0x7F : (0x3F >> more);
            byte++;
            for (int i = 0; i < more; i++, byte++) {
                if ((*byte & 0xC0) != 0x80) {
                    more = -1;
                    break;
                }
                code = (code << 6) | (*byte & 0x3F);
            }
            if (more < 0) {
                converted = false;
                break;
            }
            target[written++] = (wchar_t)code;
        }
        if (converted) {
            target[written] = 0;
        }
    }
    if (!converted) {
        abort();
    }
#else
"""

PATCHES = {
    "build/static_src/OnefileBootstrap.c": (
        (_LOOP_ANCHOR, _LOOP_PATCH), (_FOR, _FOR_PATCHED), (_END_ANCHOR, _END_PATCH),
        (_HANDLER_ANCHOR, _HANDLER_PATCH), (_MAIN_ANCHOR, _MAIN_PATCH), (_FORWARD, _FORWARD_PATCHED),
        (_FORK, _FORK_PATCH)),
    "build/static_src/HelpersFilesystemPaths.c": (
        (_CACHE_ANCHOR, _CACHE_PATCH), (_CACHE_FUNCTION_ANCHOR, _CACHE_FUNCTION)),
    "build/static_src/HelpersSafeStrings.c": ((_WIDE_ANCHOR, _WIDE_PATCH),),
    "freezer/Onefile.py": ((_COMPILER_ANCHOR, _COMPILER_PATCH),),
}


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
    for name, patches in PATCHES.items():
        path = target / name
        text = path.read_text()
        for anchor, _ in patches:
            if text.count(anchor) != 1:
                raise SystemExit(f"build: Nuitka's {name} changed ({anchor.strip()[:50]!r}); "
                                 "update build/onefile_fastpath.py for this Nuitka")
        for anchor, patch in patches:
            text = text.replace(anchor, patch)
        path.write_text(text)
    return target_root
