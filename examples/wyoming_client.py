"""Talk to `edgesay serve` as Home Assistant does, with the `wyoming` library: ask what the
server offers, then have it speak a text into a WAV file.

    edgesay serve &                                   # Wyoming on port 10200
    python3 examples/wyoming_client.py tcp://127.0.0.1:10200 "The garage door is open." out.wav [VOICE]

Without VOICE the server speaks with its default voice.
"""

import asyncio
import sys
import time
import wave

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice


async def speak(uri: str, text: str, path: str, voice: str | None) -> None:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        event = await client.read_event()
        while event is not None and not Info.is_type(event.type):
            event = await client.read_event()
        if event is None:
            raise SystemExit("the server closed the connection")
        info = Info.from_event(event)
        names = [v.name for program in info.tts for v in program.voices]
        print(f"voices: {', '.join(names)}")

    async with AsyncClient.from_uri(uri) as client:  # one connection per request, as Home Assistant
        started = time.monotonic()
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None).event())
        with wave.open(path, "wb") as wav:
            while (event := await client.read_event()) is not None:
                if Error.is_type(event.type):
                    raise SystemExit(f"server error: {Error.from_event(event).text}")
                if AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                    wav.setframerate(start.rate)
                    wav.setsampwidth(start.width)
                    wav.setnchannels(start.channels)
                    print(f"first audio after {time.monotonic() - started:.3f} s")
                elif AudioChunk.is_type(event.type):
                    wav.writeframes(AudioChunk.from_event(event).audio)
                elif AudioStop.is_type(event.type):
                    break
        print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(speak(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
