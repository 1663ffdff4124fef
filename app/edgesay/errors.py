"""Typed errors raised by the library; the CLI and TUI turn them into one line each.

Every message is a complete sentence fit for a user's terminal: it names the file or
the input at fault and what is wrong with it.
"""


class EdgesayError(Exception):
    """Base class: anything edgesay reports to a user rather than crashing on."""

    exit_code = 1


class InputError(EdgesayError):
    """The text to speak is unusable (empty, not UTF-8, too long, nothing speakable)."""

    exit_code = 2


class VoiceError(EdgesayError):
    """A voice file is missing, unreadable or not a Piper voice we can run."""

    exit_code = 3


class OutputError(EdgesayError):
    """The requested output cannot be written."""

    exit_code = 4


class PhonemizerError(EdgesayError):
    """espeak-ng could not be loaded or refused the text."""

    exit_code = 5
