"""The Wyoming side: Home Assistant's protocol, on the `wyoming` library's servers and events.

The library reads whatever length an event header claims; a server on a network must not, so
events are read here with limits (`read_event`) and everything else (event types, writing,
tcp:// and unix:// servers) is the library's. One connection is one client: its events are
handled in order, and its audio goes out as the engine decodes it.
"""

import asyncio
import json
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from .. import __version__
from ..errors import EdgesayError, InputError
from ..text.frontend import StreamedText, reads_english
from ..text.ssml import is_ssml
from ..voice.limits import MAX_UTTERANCE_CHARS
from .limits import ServerLimits, limit_send_buffer
from .speech import ClientGone, Speech, SpeechRequest, Spoken, public_message
from .voices import Catalog

if TYPE_CHECKING:
    from .server import Connections

LOG = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024  # one event's JSON line; asyncio's stream limit, set by the server
MAX_DATA_BYTES = 1024 * 1024  # an event's extra data (data_length): text up to MAX_UTTERANCE_CHARS fits
MAX_PAYLOAD_BYTES = 1024 * 1024  # a TTS server is sent no audio; anything bigger is refused unread
WIDTH, CHANNELS = 2, 1  # 16-bit mono


class BadEvent(Exception):
    """The bytes on the connection are not a Wyoming event within the limits: after this the
    stream cannot be trusted, so the connection gets an error event and is closed."""


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadEvent(f"event header field {key} must be a non-negative integer")
    if value > limit:
        # Refused before a byte of it is read: the claim alone is enough.
        raise BadEvent(f"event {key} {value:,} is over this server's limit of {limit:,} bytes")
    return value


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None when the client has gone; BadEvent when what it sent is not one."""
    try:
        line = await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError: no newline within the stream limit
        raise BadEvent(f"event header is longer than {MAX_HEADER_BYTES:,} bytes") from None
    if not line.endswith(b"\n"):
        return None  # end of stream (perhaps mid-line: the client left)
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadEvent("event header is not a JSON line") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadEvent('event header is not a JSON object with a "type" string')
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadEvent('event field "data" must be an object')
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            try:
                extra = json.loads(await reader.readexactly(data_length))
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise BadEvent("event data is not JSON") from None
            if not isinstance(extra, dict):
                raise BadEvent("event data must be a JSON object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    return Event(type=header["type"], data=data, payload=payload)


def _text(data: dict[str, Any], what: str) -> str:
    text = data.get("text")
    if not isinstance(text, str):
        raise InputError(f'{what} needs a "text" string')
    return text


def _voice(data: dict[str, Any], what: str) -> tuple[str | None, str | None]:
    voice = data.get("voice")
    if voice is None:
        return None, None
    if not isinstance(voice, dict):
        raise InputError(f'{what}: "voice" must be an object with "name" and "speaker"')
    name, speaker = voice.get("name"), voice.get("speaker")
    if not isinstance(name, str | None) or not isinstance(speaker, str | None):
        raise InputError(f'{what}: voice "name" and "speaker" must be strings')
    return name, speaker


def info(catalog: Catalog) -> Info:
    voices = [
        TtsVoice(name=v.name, description=f"{v.name} ({v.language_code}, {v.quality}, {v.sample_rate} Hz)",
                 attribution=Attribution(name="rhasspy", url="https://github.com/rhasspy/piper"),
                 installed=True, version=None, languages=[v.language_code],
                 speakers=[TtsVoiceSpeaker(name=s) for s in v.speaker_names] or None)
        for v in sorted(catalog.voices.values(), key=lambda v: v.name)]
    return Info(tts=[TtsProgram(
        name="edgesay", description="Text to speech for edge devices, streaming inside sentences",
        attribution=Attribution(name="edgesay", url=""), installed=True, version=__version__,
        voices=voices, supports_synthesize_streaming=True)])


@dataclass
class _Stream:
    """A synthesize-start ... synthesize-stop conversation in progress."""

    voice: str | None
    speaker: str | None
    text: StreamedText  # received, cut where its sentences end (the voice's language decides)
    chars: int = 0  # text received in all
    # Text that begins with "<" may be SSML: held whole until synthesize-stop, since a document
    # is read (and a sentence found) only once it is complete.
    held: str | None = None
    audio_started: bool = False
    spoken: Spoken | None = None


# Events that are requests: only these keep a connection from being idle (a ping every minute
# must not hold a connection forever).
_REQUESTS = ("describe", "synthesize", "synthesize-start", "synthesize-chunk", "synthesize-stop")


class WyomingHandler(AsyncEventHandler):
    def __init__(self, speech: Speech, samples_per_chunk: int, limits: ServerLimits, connections: "Connections",
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.speech = speech
        self.chunk_bytes = samples_per_chunk * WIDTH * CHANNELS
        self.limits = limits
        self.connections = connections
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "unix"
        self.stream: _Stream | None = None
        limit_send_buffer(writer)

    async def run(self) -> None:
        """The library's loop, with limits on what is read and errors answered as events."""
        task = asyncio.current_task()
        try:
            if self.connections.full() or task is None:
                LOG.info("wyoming %s: refused: %d connections open", self.peer, self.connections.limit)
                await self.write_event(Error(text="too many connections to this server; try again",
                                             code="busy").event())
                return
            self.connections.wyoming.add(task)
            await self._events()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client left; its synthesis, if any, stopped with the write that failed
        finally:
            if task is not None:
                self.connections.wyoming.discard(task)
            self.writer.close()

    async def _events(self) -> None:
        idle_until = time.monotonic() + self.limits.idle_timeout
        while True:
            try:
                event = await asyncio.wait_for(read_event(self.reader), max(0.0, idle_until - time.monotonic()))
            except asyncio.TimeoutError:
                LOG.info("wyoming %s: closed, no request for %.0f s", self.peer, self.limits.idle_timeout)
                return
            except BadEvent as exc:
                LOG.info("wyoming %s: bad event: %s", self.peer, exc)
                await self.write_event(Error(text=str(exc), code="bad-event").event())
                return
            if event is None:
                return
            if event.type in _REQUESTS:
                idle_until = time.monotonic() + self.limits.idle_timeout
            if not await self.handle_event(event):
                return

    def gone(self) -> bool:
        """Whether the client has closed its end (what it sent before is still read)."""
        return self.writer.transport.is_closing() or self.reader.at_eof()

    async def write_event(self, event: Event) -> None:
        """One event out; a client that takes nothing for --client-timeout seconds is dropped."""
        try:
            await asyncio.wait_for(super().write_event(event), self.limits.client_timeout)
        except asyncio.TimeoutError:
            self.writer.transport.abort()
            raise ClientGone(f"the client took nothing for {self.limits.client_timeout:g} s: dropped") from None

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._handle(event)
        except EdgesayError as exc:
            LOG.info("wyoming %s %s: refused: %s", self.peer, event.type, exc)
            self.stream = None
            await self.write_event(Error(text=public_message(exc), code=type(exc).__name__).event())
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug or a broken voice: this client is told, the server goes on
            LOG.exception("wyoming %s %s: failed", self.peer, event.type)
            self.stream = None
            await self.write_event(Error(text=f"internal error: {type(exc).__name__}", code="internal").event())
        return True

    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event(info(self.speech.voices.catalog).event())
        elif Synthesize.is_type(event.type):
            if self.stream is None:  # during a stream it only repeats the text, for older servers
                name, speaker = _voice(event.data, "synthesize")
                text = _text(event.data, "synthesize")
                request = SpeechRequest(text, name, speaker, ssml=is_ssml(text))
                spoken = Spoken()
                try:
                    await self._speak(request, spoken, start=True)
                    await self.write_event(AudioStop().event())
                except ConnectionError as exc:
                    self._log("synthesize", len(request.text), spoken, f" client left: stopped{_why(exc)}")
                    raise
                self._log("synthesize", len(request.text), spoken)
        elif SynthesizeStart.is_type(event.type):
            name, speaker = _voice(event.data, "synthesize-start")
            self.speech.voices.check(name)  # an unknown or unprepared voice is refused at the start
            voice = self.speech.voices.catalog.info(name)
            self.stream = _Stream(name, speaker, StreamedText(reads_english(voice.phoneme_type, voice.language)))
        elif SynthesizeChunk.is_type(event.type):
            stream = self._streaming("synthesize-chunk")
            text = _text(event.data, "synthesize-chunk")
            stream.chars += len(text)
            if stream.held is None and not stream.text.pending.strip() and text.lstrip().startswith("<"):
                stream.held = ""
            if stream.held is not None:
                if len(stream.held) + len(text) > MAX_UTTERANCE_CHARS:
                    raise InputError(f"streamed SSML has over {MAX_UTTERANCE_CHARS:,} characters")
                stream.held += text
                return
            if len(stream.text.pending) + len(text) > MAX_UTTERANCE_CHARS:
                raise InputError(f"streamed text has over {MAX_UTTERANCE_CHARS:,} characters without a sentence end")
            # Off the event loop: judging where sentences end normalizes text (linear, but not free).
            whole = await asyncio.to_thread(stream.text.feed, text)
            if whole.strip():
                await self._speak_streamed(stream, whole)
        elif SynthesizeStop.is_type(event.type):
            stream = self._streaming("synthesize-stop")
            if stream.held is not None and stream.held.strip():
                await self._speak_streamed(stream, stream.held, ssml=is_ssml(stream.held))
            elif stream.text.pending.strip():
                await self._speak_streamed(stream, stream.text.pending)
            if stream.audio_started:
                await self.write_event(AudioStop().event())
            await self.write_event(SynthesizeStopped().event())
            self.stream = None
            if stream.spoken:
                self._log("stream", stream.chars, stream.spoken)
        # Other event types (ping, audio) are not for a TTS server; the library's servers ignore them too.

    def _streaming(self, what: str) -> _Stream:
        if self.stream is None:
            raise InputError(f"{what} without synthesize-start")
        return self.stream

    async def _speak_streamed(self, stream: _Stream, text: str, ssml: bool = False) -> None:
        stream.spoken = stream.spoken or Spoken()
        request = SpeechRequest(text, stream.voice, stream.speaker, ssml=ssml)
        try:
            await self._speak(request, stream.spoken, start=not stream.audio_started)
        except ConnectionError as exc:
            self._log("stream", stream.chars, stream.spoken, f" client left: stopped{_why(exc)}")
            raise
        stream.audio_started = True

    async def _speak(self, request: SpeechRequest, spoken: Spoken, start: bool) -> None:
        """Audio events for one request: audio-start (unless a stream sent it already), then
        audio-chunks of at most --samples-per-chunk samples as each window is decoded."""
        async with aclosing(self.speech.stream(request, spoken, self.gone, self.writer.transport.abort)) as pcm:
            async for piece in pcm:
                if start:
                    await self.write_event(AudioStart(rate=spoken.sample_rate, width=WIDTH, channels=CHANNELS).event())
                    start = False
                for at in range(0, len(piece), self.chunk_bytes):
                    await self.write_event(AudioChunk(rate=spoken.sample_rate, width=WIDTH, channels=CHANNELS,
                                                      audio=piece[at:at + self.chunk_bytes]).event())
        if start:  # nothing speakable: still one well-formed (empty) response
            rate = spoken.sample_rate or self.speech.voices.catalog.info(request.voice).sample_rate
            await self.write_event(AudioStart(rate=rate, width=WIDTH, channels=CHANNELS).event())

    def _log(self, what: str, chars: int, spoken: Spoken, outcome: str = "") -> None:
        first = f"{spoken.first_audio:.3f} s" if spoken.first_audio is not None else "-"
        LOG.info("wyoming %s %s voice=%s chars=%d audio=%.2f s first=%s total=%.3f s%s", self.peer, what,
                 spoken.voice, chars, spoken.seconds, first, time.monotonic() - spoken.started, outcome)


def _why(exc: BaseException) -> str:
    return f" ({exc})" if isinstance(exc, ClientGone) else ""
