"""The HTTP side, on aiohttp: Piper's HTTP API (POST /synthesize -> WAV, GET /voices, GET /info),
plus the same request streamed as it is made (`?stream=wav` or `?stream=pcm`)."""

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .. import __version__
from ..errors import EdgesayError, InputError, VoiceError
from ..output.sinks import wav_header
from ..voice.config import is_speaker_number
from ..voice.limits import LENGTH_SCALE, NOISE_SCALE, NOISE_W, SENTENCE_SILENCE, Bound
from .limits import ServerLimits, limit_send_buffer
from .speech import ClientGone, ServerStopping, Speech, SpeechRequest, Spoken, public_message
from .voices import NotPrepared, UnknownVoice

LOG = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # a request's JSON; the longest allowed text fits
STREAM_KINDS = ("wav", "pcm")
_IN_MEMORY = 8 * 1024 * 1024  # a whole WAV larger than this is spooled to a temporary file
_STREAM_SIZE = 0xFFFFFFFF  # a streamed WAV's sizes: "until the end" (output.sinks.wav_header)
_SPEAKER = object()  # the speaker_id field absent


def _number(data: dict[str, Any], bound: Bound) -> float | None:
    value = data.get(bound.field)
    return None if value is None else bound.check(value)


def parse_speaker_id(value: object) -> int:
    """Piper's "speaker_id": an integer, or a string that is one (voice.config.is_speaker_number)."""
    if isinstance(value, str) and is_speaker_number(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1_000_000_000:
        raise InputError('"speaker_id" must be a non-negative integer')
    return value


def parse_body(body: bytes) -> Any:
    """The body as JSON whatever its declared content type and charset, as Piper's server reads
    it (json.loads finds UTF-8, -16 or -32 itself)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise InputError("the body is not JSON this server reads: nested too deeply") from None


def parse_request(data: Any) -> SpeechRequest:
    """Piper's JSON fields, each checked for its type and range (a 400 names the field)."""
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str):
        raise InputError('"text" must be a string')
    voice = data.get("voice")
    if not isinstance(voice, str | None):
        raise InputError('"voice" must be a string')
    speaker: str | int | None = data.get("speaker")
    if not isinstance(speaker, str | None):
        raise InputError('"speaker" must be a string')
    if data.get("speaker_id") is not None:  # wins over "speaker", as in Piper
        speaker = parse_speaker_id(data["speaker_id"])
    ssml = data.get("ssml", False)
    if not isinstance(ssml, bool):
        raise InputError('"ssml" must be true or false')
    return SpeechRequest(text.strip(), voice or None, speaker, _number(data, LENGTH_SCALE),
                         _number(data, NOISE_SCALE), _number(data, NOISE_W), _number(data, SENTENCE_SILENCE), ssml)


def _status(exc: EdgesayError) -> int:
    if isinstance(exc, ServerStopping):
        return 503
    if isinstance(exc, UnknownVoice):
        return 404
    if isinstance(exc, NotPrepared):
        return 409
    if isinstance(exc, VoiceError):
        return 500  # the server's own voice file is at fault, not the request
    return 400


def _same_origin(request: web.Request, allowed: frozenset[str]) -> bool:
    """A browser names the page that sent a request in Origin; other clients (curl, Home
    Assistant, Piper's) send none. Another site's page may not make this server speak."""
    origin = request.headers.get("Origin")
    if origin is None or origin in allowed:
        return True
    parsed = urlsplit(origin)
    return parsed.scheme in ("http", "https") and parsed.netloc.lower() == request.host.lower()


class Http:
    def __init__(self, speech: Speech, limits: ServerLimits, allowed_origins: frozenset[str] = frozenset()) -> None:
        self.speech = speech
        self.limits = limits
        self.allowed_origins = allowed_origins
        self.last: dict[str, Any] | None = None  # the last answer's timings, never its text

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._origin])
        app.router.add_post("/synthesize", self.synthesize)
        app.router.add_get("/voices", self.voices)
        app.router.add_get("/info", self.info)
        return app

    @web.middleware
    async def _origin(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not _same_origin(request, self.allowed_origins):
            LOG.info("http %s %s %s 403 refused: origin %s", request.remote, request.method, request.path,
                     request.headers.get("Origin"))
            return web.json_response({"error": "requests from another site's page are refused "
                                               "(edgesay serve --allow-origin ORIGIN allows one)"}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    async def voices(self, request: web.Request) -> web.Response:
        """As Piper: each voice's name with its config (the .onnx.json)."""
        return web.json_response({name: dict(v.config) for name, v in self.speech.voices.catalog.voices.items()})

    async def info(self, request: web.Request) -> web.Response:
        voices = self.speech.voices
        default = voices.catalog.info(None)
        return web.json_response({
            "voice": {"name": default.name, "language": default.language, "num_speakers": default.speakers},
            "voices": [{"name": v.name, "language": v.language_code, "espeak_voice": v.language,
                        "quality": v.quality, "sample_rate": v.sample_rate, "speakers": list(v.speaker_names)
                        or v.speakers, "prepared": voices.prepared(v.name)} for v in voices.catalog.voices.values()],
            "loaded": voices.names, "version": __version__, "last": self.last})

    async def synthesize(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        stream = request.query.get("stream")
        spoken = Spoken()
        status, chars, outcome = 200, 0, ""

        def gone() -> bool:
            return request.transport is None or request.transport.is_closing()

        def drop() -> None:
            if request.transport is not None:
                request.transport.abort()

        try:
            if stream is not None and stream not in STREAM_KINDS:
                raise InputError(f"stream must be one of {', '.join(STREAM_KINDS)}")
            if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
                # Refused on its Content-Length, before the body is read.
                raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length)
            try:  # a body sent a byte at a time
                body = await asyncio.wait_for(request.read(), self.limits.header_timeout)
            except asyncio.TimeoutError:
                raise web.HTTPRequestTimeout(reason=f"the body did not arrive within "
                                                    f"{self.limits.header_timeout:g} s") from None
            wanted = parse_request(parse_body(body))
            if request.transport is not None:
                limit_send_buffer(request.transport)
            chars = len(wanted.text)
            async with aclosing(self.speech.stream(wanted, spoken, gone, drop)) as pcm:
                first = await anext(pcm, None)  # errors of the request come before any header is sent
                if first is None:
                    raise InputError("nothing to speak: the text has no speakable words")
                if stream:
                    response = await self._streamed(request, stream, spoken.sample_rate, first, pcm)
                else:
                    response = await self._whole(request, spoken.sample_rate, first, pcm, gone)
            self.last = {"voice": spoken.voice, "characters": chars, "synthesize_seconds": time.monotonic() - started,
                         "audio_seconds": spoken.seconds}
            return response
        except EdgesayError as exc:
            status, outcome = _status(exc), f" refused: {exc}"
            return web.json_response({"error": public_message(exc)}, status=status)
        except web.HTTPException as exc:
            status, outcome = exc.status, f" refused: {exc.reason}"
            return web.json_response({"error": exc.reason}, status=exc.status)
        except ConnectionError as exc:
            # Nothing to answer: the synthesis stopped when the stream closed (aclosing above).
            status, outcome = 499, f" client left: stopped ({exc})" if isinstance(exc, ClientGone) else \
                " client left: stopped"
            return web.Response(status=499)
        except asyncio.CancelledError:  # the connection closed (aiohttp cancels its handler)
            status, outcome = 499, " client left: stopped"
            raise
        finally:
            first_audio = f"{spoken.first_audio:.3f} s" if spoken.first_audio is not None else "-"
            LOG.info("http %s POST /synthesize%s %d voice=%s chars=%d audio=%.2f s first=%s total=%.3f s%s",
                     request.remote, f"?stream={stream}" if stream else "", status, spoken.voice or "-", chars,
                     spoken.seconds, first_audio, time.monotonic() - started, outcome)

    async def _write(self, request: web.Request, response: web.StreamResponse, data: bytes) -> None:
        """One write; a client that takes nothing for --client-timeout seconds is dropped."""
        try:
            await asyncio.wait_for(response.write(data), self.limits.client_timeout)
        except asyncio.TimeoutError:
            if request.transport is not None:
                request.transport.abort()
            raise ClientGone(f"the client took nothing for {self.limits.client_timeout:g} s: dropped") from None

    async def _whole(self, request: web.Request, rate: int, first: bytes, pcm: AsyncIterator[bytes],
                     gone: Callable[[], bool]) -> web.StreamResponse:
        """A WAV with its sizes filled in, as Piper's server answers: made first (long speech is
        spooled to a temporary file, not held in memory), then sent. At most --max-whole-seconds
        of audio: longer speech is for ?stream=wav, which holds nothing."""
        limit = int(self.limits.max_whole_seconds * rate) * 2
        with tempfile.SpooledTemporaryFile(_IN_MEMORY) as body:
            body.write(first)
            async for piece in pcm:
                if gone():
                    raise ClientGone("the client left")  # stops the synthesis now
                if body.tell() + len(piece) > limit:
                    raise web.HTTPRequestEntityTooLarge(
                        limit, body.tell() + len(piece),
                        reason=f"the answer is over {self.limits.max_whole_seconds:g} s of audio; "
                               "ask for it streamed (?stream=wav)")
                body.write(piece)
            size = body.tell()
            body.seek(0)
            response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
            response.content_length = len(wav_header(rate, size)) + size
            await response.prepare(request)
            await self._write(request, response, wav_header(rate, size))
            while piece := body.read(256 * 1024):
                await self._write(request, response, piece)
            await response.write_eof()
            return response

    async def _streamed(self, request: web.Request, kind: str, rate: int, first: bytes,
                        pcm: AsyncIterator[bytes]) -> web.StreamResponse:
        """Chunked transfer, a piece per decoded window: WAV with open-ended sizes, or raw PCM
        (16-bit little-endian mono) with the format in headers."""
        response = web.StreamResponse(headers={
            "Content-Type": "audio/wav" if kind == "wav" else "application/octet-stream",
            "X-Sample-Rate": str(rate), "X-Sample-Width": "2", "X-Channels": "1"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if kind == "wav":
            await self._write(request, response, wav_header(rate, _STREAM_SIZE))
        await self._write(request, response, first)
        async for piece in pcm:
            await self._write(request, response, piece)  # a client that left raises here, which stops the synthesis
        await response.write_eof()
        return response
