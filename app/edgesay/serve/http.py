"""The HTTP side, on aiohttp: Piper's HTTP API (POST /synthesize -> WAV, GET /voices, GET /info),
plus the same request streamed as it is made (`?stream=wav` or `?stream=pcm`)."""

import logging
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from aiohttp import web

from .. import __version__
from ..errors import EdgesayError, InputError, VoiceError
from ..output.sinks import wav_header
from .speech import Speaker, SpeechRequest, Spoken
from .voices import UnknownVoice

LOG = logging.getLogger("edgesay.serve")

MAX_BODY_BYTES = 1024 * 1024  # a request's JSON; the longest allowed text fits
STREAM_KINDS = ("wav", "pcm")
_IN_MEMORY = 8 * 1024 * 1024  # a whole WAV larger than this is spooled to a temporary file
_STREAM_SIZE = 0xFFFFFFFF  # a streamed WAV's sizes: "until the end" (output.sinks.wav_header)
_SPEAKER = object()  # the speaker_id field absent


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f'"{key}" must be a number')
    return float(value)


def parse_request(data: Any) -> SpeechRequest:
    """Piper's JSON fields, each checked for its type (a 400 names the field)."""
    if not isinstance(data, dict):
        raise InputError("the body must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str):
        raise InputError('"text" must be a string')
    voice = data.get("voice")
    if not isinstance(voice, str | None):
        raise InputError('"voice" must be a string')
    speaker = data.get("speaker")
    if not isinstance(speaker, str | None):
        raise InputError('"speaker" must be a string')
    speaker_id = data.get("speaker_id")  # wins over "speaker", as in Piper
    if speaker_id is not None:
        if isinstance(speaker_id, bool) or not isinstance(speaker_id, int | str) or not str(speaker_id).isdigit():
            raise InputError('"speaker_id" must be a non-negative integer')
        speaker = int(speaker_id)
    return SpeechRequest(text.strip(), voice or None, speaker, _number(data, "length_scale"),
                         _number(data, "noise_scale"), _number(data, "noise_w_scale"),
                         _number(data, "sentence_silence"))


def _status(exc: EdgesayError) -> int:
    if isinstance(exc, UnknownVoice):
        return 404
    if isinstance(exc, VoiceError):
        return 500  # the server's own voice file is at fault, not the request
    return 400


class Http:
    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self.last: dict[str, Any] | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/synthesize", self.synthesize)
        app.router.add_get("/voices", self.voices)
        app.router.add_get("/info", self.info)
        return app

    async def voices(self, request: web.Request) -> web.Response:
        """As Piper: each voice's name with its config (the .onnx.json)."""
        return web.json_response({name: dict(v.config) for name, v in self.speaker.voices.catalog.voices.items()})

    async def info(self, request: web.Request) -> web.Response:
        catalog = self.speaker.voices.catalog
        default = catalog.info(None)
        return web.json_response({
            "voice": {"name": default.name, "language": default.language, "num_speakers": default.speakers},
            "voices": [{"name": v.name, "language": v.language_code, "espeak_voice": v.language,
                        "quality": v.quality, "sample_rate": v.sample_rate, "speakers": list(v.speaker_names)
                        or v.speakers} for v in catalog.voices.values()],
            "loaded": self.speaker.voices.names, "version": __version__, "last": self.last})

    async def synthesize(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        stream = request.query.get("stream")
        spoken = Spoken()
        status, chars, outcome = 200, 0, ""
        try:
            if stream is not None and stream not in STREAM_KINDS:
                raise InputError(f"stream must be one of {', '.join(STREAM_KINDS)}")
            if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
                # Refused on its Content-Length, before the body is read.
                raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length)
            try:
                data = await request.json()
            except ValueError as exc:
                raise InputError(f"the body is not JSON: {exc}") from None
            wanted = parse_request(data)
            chars = len(wanted.text)
            async with aclosing(self.speaker.stream(wanted, spoken)) as pcm:
                first = await anext(pcm, None)  # errors of the request come before any header is sent
                if first is None:
                    raise InputError("nothing to speak: the text has no speakable words")
                if stream:
                    response = await self._streamed(request, stream, spoken.sample_rate, first, pcm)
                else:
                    response = await self._whole(request, spoken.sample_rate, first, pcm)
            self.last = {"text": wanted.text, "voice": spoken.voice, "synthesize_seconds": time.monotonic() - started,
                         "audio_seconds": spoken.seconds}
            return response
        except EdgesayError as exc:
            status, outcome = _status(exc), f" refused: {exc}"
            return web.json_response({"error": str(exc)}, status=status)
        except web.HTTPException as exc:
            status, outcome = exc.status, f" refused: {exc.reason}"
            return web.json_response({"error": exc.reason}, status=exc.status)
        except ConnectionError:
            # Nothing to answer: the synthesis stopped when the stream closed (aclosing above).
            status, outcome = 499, " client left: stopped"
            return web.Response(status=499)
        finally:
            first_audio = f"{spoken.first_audio:.3f} s" if spoken.first_audio is not None else "-"
            LOG.info("http %s POST /synthesize%s %d voice=%s chars=%d audio=%.2f s first=%s total=%.3f s%s",
                     request.remote, f"?stream={stream}" if stream else "", status, spoken.voice or "-", chars,
                     spoken.seconds, first_audio, time.monotonic() - started, outcome)

    async def _whole(self, request: web.Request, rate: int, first: bytes,
                     pcm: AsyncIterator[bytes]) -> web.StreamResponse:
        """A WAV with its sizes filled in, as Piper's server answers: made first (long speech is
        spooled to a temporary file, not held in memory), then sent."""
        with tempfile.SpooledTemporaryFile(_IN_MEMORY) as body:
            body.write(first)
            async for piece in pcm:
                if request.transport is None or request.transport.is_closing():
                    raise ConnectionResetError("the client left")  # stops the synthesis now
                body.write(piece)
            size = body.tell()
            body.seek(0)
            response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
            response.content_length = len(wav_header(rate, size)) + size
            await response.prepare(request)
            await response.write(wav_header(rate, size))
            while piece := body.read(256 * 1024):
                await response.write(piece)
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
            await response.write(wav_header(rate, _STREAM_SIZE))
        await response.write(first)
        async for piece in pcm:
            await response.write(piece)  # a client that left raises here, which stops the synthesis
        await response.write_eof()
        return response
