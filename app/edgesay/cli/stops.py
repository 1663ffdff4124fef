"""SIGINT and SIGTERM: how the `edgesay` command stops, from its first instant to its last.

Starting, nothing is written yet and a stop simply ends the process (stop_while_starting). Once
a command holds its modules, a stop unwinds as KeyboardInterrupt so sinks close and remove their
temporary files (stop_cleanly). Only os and signal here: __main__ imports this first."""

import os
import signal

STOPS = (signal.SIGINT, signal.SIGTERM)


def stop_while_starting(signum: int, frame: object) -> None:
    # Raised as KeyboardInterrupt inside an extension module's initialisation, a stop became
    # "ImportError: initialization failed" with a traceback (onnxruntime's: 12 of 150 random
    # stops of the binary) or, in an earlier build, a segfault.
    os.write(2, b"edgesay: interrupted\n")
    os._exit(130)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def on_stop(handler: "signal._HANDLER") -> None:
    for signum in STOPS:
        # Ignored on entry stays ignored: a script's background job (`edgesay ... &`) is meant
        # to outlive the Ctrl-C typed at its terminal.
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, handler)


def stop_cleanly() -> None:
    """From now on a stop raises KeyboardInterrupt. Call it after a command's heavy imports."""
    on_stop(_raise_interrupt)
