"""The `edgesay` command (binary, `python -m edgesay`, pip's console script): stop handlers first,
then everything else. Importing the CLI loads numpy, which a signal must not break."""

import signal

from edgesay.cli import stops  # absolute: the compiled binary runs this file as the top-level module


def main() -> None:
    stops.on_stop(stops.stop_while_starting)
    # The onefile binary's loader execs this program with both signals blocked, so that one sent
    # while Python started waits for the handler above (build/onefile_fastpath.py).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops.STOPS)

    from edgesay.cli import onefile

    onefile.name_process()
    from edgesay.cli.command import run

    run()


if __name__ == "__main__":
    main()
