import os
import signal


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Until main() installs its own handlers nothing has been written: leave at once. Raising
    # KeyboardInterrupt in the middle of importing numpy or onnxruntime could crash natively
    # (a segfault, measured with SIGINT 0.3 s after start) or print a traceback.
    os.write(2, b"edgesay: interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_starting)
signal.signal(signal.SIGTERM, _interrupted_while_starting)

from edgesay.cli import run  # noqa: E402  (absolute: the compiled binary runs this file as the top-level module)

run()
