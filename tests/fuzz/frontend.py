"""Coverage-guided fuzzing (atheris, libFuzzer) of the text front end: normalization, sentence
and clause splitting, espeak-ng phonemization and phoneme-id mapping, with the real voice's
config. Anything but ids the voice knows or an InputError is a crash; a crash's input is written
by libFuzzer as crash-<sha1> in the working directory, and becomes a regression test
(tests/data/fuzz_regressions.txt, read by test_fuzz_properties.py).

    just fuzz [seconds]       # python3 tests/fuzz/frontend.py -max_total_time=60 tests/fuzz/corpus
"""

import sys

import atheris

with atheris.instrument_imports():
    from edgesay import InputError
    from edgesay.loading import store
    from edgesay.text.espeak import Espeak
    from edgesay.text.frontend import text_to_sentences

store.prepare(None, "balanced")  # once, if the default voice is not prepared yet
CONFIG = store.load_level(None, "balanced").config
KNOWN = {i for ids in CONFIG.phoneme_id_map.values() for i in ids}
FRONTEND = CONFIG.frontend(Espeak.installed())


def one_input(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        for sentence in text_to_sentences(text):
            ids = FRONTEND.sentence_ids(sentence)
            if not set(ids) <= KNOWN:
                raise AssertionError(f"unknown ids {set(ids) - KNOWN} for {text!r}")
    except InputError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
