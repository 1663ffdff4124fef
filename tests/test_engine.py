"""The engine on the real default voice: streaming, equivalence, pools, settings."""

import numpy as np
import onnxruntime as ort
import pytest

from conftest import speak
from edgesay import InputError, SynthesisSettings
from edgesay.runtime.windows import FIRST_WINDOW_FRAMES
from edgesay.system.paths import default_voice
from edgesay.text.frontend import text_to_sentences

LONG = ("When the power came back on, the old radio in the kitchen started playing again, a little out of tune, "
        "as if nothing at all had happened during the three days of darkness that the whole valley had lived through.")


def whole_sentence_audio(engine, text: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The unsplit Piper graph, one run per sentence, deterministic noise: the reference."""
    session = ort.InferenceSession(str(default_voice()[0]), providers=["CPUExecutionProvider"])
    parts = []
    for sentence in text_to_sentences(text):
        ids = engine.sentence_ids(sentence)
        audio = session.run(None, {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)]),
                                   "scales": np.array([0.0, 1.0, 0.0], np.float32)})[0]
        parts.append(np.clip(audio.reshape(-1) * 32767, -32768, 32767).astype(np.int16))
    return np.concatenate(parts)


def test_windowed_streaming_equals_whole_sentence_decoding(engine) -> None:  # type: ignore[no-untyped-def]
    # Tolerance: 2 LSB of 16-bit audio. The windows see the same receptive field as the
    # whole-sentence run, so only float rounding in the convolutions differs (measured: max 1).
    ours = speak(engine, LONG + " " + "Good morning.", noise_scale=0, noise_w=0)
    reference = whole_sentence_audio(engine, LONG + " " + "Good morning.")
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(np.int32) - reference).max() <= 2


@pytest.mark.parametrize("quality", ["reference", "balanced", "fast"])
def test_every_level_decodes_with_a_head_and_a_tail_that_needs_little_context(quality: str) -> None:
    # The cut (prepare/split.py) moves nearly all of the decoder's context into its cheap head.
    from edgesay.loading.store import load_level

    split = load_level(None, quality).split
    assert split.decoder_tail is not None and split.cut_rate == 8
    assert 1 <= split.tail_pad <= 2 < split.head_pad <= split.decoder_pad
    assert split.window_pad <= split.decoder_pad + 2


def test_windowed_head_and_tail_equal_one_run_over_the_sentence(default_bundle) -> None:  # type: ignore[no-untyped-def]
    # INT8 graphs, no compensation, no noise: streamed windows (flow and cut decoder) against the
    # same sessions run once over the whole sentence. Only float rounding may differ.
    from edgesay import Engine
    from edgesay.runtime.audio import to_pcm16
    from edgesay.runtime.windows import Window

    engine = Engine.load(threads=2, quality="balanced", compensate=False)
    ours = speak(engine, LONG, noise_scale=0, noise_w=0)
    (sentence,) = text_to_sentences(LONG)
    settings = SynthesisSettings(noise_scale=0, noise_w=0)
    z_p = engine.latent.run(engine.sentence_ids(sentence), settings.scales(engine.config), None)
    z = engine.streamer.whole_flow(z_p)
    frames = z.shape[2]
    whole, offset = engine.streamer.decode(z, Window(0, frames, 0, frames))
    assert offset == 0
    reference = to_pcm16(whole.reshape(-1), 1.0, engine.pool)
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(np.int32) - reference).max() <= 2


def test_threads_change_the_speed_not_the_audio(default_bundle) -> None:  # type: ignore[no-untyped-def]
    # One thread runs every graph in turn; more run the tail as parts of each window on lanes,
    # the next window's head on a worker, the flow and the next sentence's latent graph on a
    # thread of their own (runtime/sessions.ThreadPlan). INT8, no noise: the same audio.
    from edgesay import Engine

    text = LONG + " Good morning. The garage door is open, and the lights are off."
    one = speak(Engine.load(threads=1, quality="balanced"), text, noise_scale=0, noise_w=0)
    three = Engine.load(threads=3, quality="balanced")
    assert three.streamer.parts == 3
    ours = speak(three, text, noise_scale=0, noise_w=0)
    assert ours.shape == one.shape
    assert np.abs(ours.astype(np.int32) - one).max() <= 2


def test_first_audio_has_the_cores_and_later_sentences_fill_them(balanced) -> None:  # type: ignore[no-untyped-def]
    # What is handed to the other threads before each sentence's first window is finished: for
    # the first sentence only its first flow window (the listener waits for that window alone);
    # for a later one (its latent graph made on the worker) the second flow window and the
    # second window's head too, beside the first.
    events: list[str] = []
    engine, streamer = balanced, balanced.streamer
    flow_thread, worker = engine._ahead, engine._heads

    def submit(executor, kind):  # type: ignore[no-untyped-def]
        plain = executor.submit

        def recorded(fn, *args):  # type: ignore[no-untyped-def]
            if kind == "head" or fn == streamer.flow:
                events.append(kind)
            return plain(fn, *args)
        return recorded

    finish = engine._finish_audio

    def finished(*args):  # type: ignore[no-untyped-def]
        events.append("audio")
        return finish(*args)
    flow_thread.submit, worker.submit = submit(flow_thread, "flow"), submit(worker, "head")
    engine._finish_audio = finished
    try:
        sentences = [chunk.sentence for chunk in engine.synthesize(LONG + " " + LONG)]
    finally:
        del flow_thread.submit, worker.submit, engine._finish_audio
    assert sentences[0] == 0 and sentences[-1] == 1
    windows = [n for n, event in enumerate(events) if event == "audio"]  # one per chunk
    second = windows[sentences.index(1)]  # the second sentence's first window
    assert events[:windows[0]] == ["flow"]
    between = events[windows[sentences.index(1) - 1] + 1:second]  # after the first sentence's last window
    assert between.count("flow") >= 2 and between.count("head") == 1


def test_long_sentence_streams_in_many_chunks_first_one_small(engine) -> None:  # type: ignore[no-untyped-def]
    chunks = list(c.samples.size for c in engine.synthesize(LONG))
    hop = engine.split.hop
    assert len(chunks) >= 8
    assert chunks[0] == FIRST_WINDOW_FRAMES * hop
    assert sum(chunks) / engine.config.sample_rate > 9.0  # about ten seconds of speech


def test_chunks_carry_timings(engine) -> None:  # type: ignore[no-untyped-def]
    chunks = list(engine.synthesize("Good morning. The garage door is open."))
    assert {c.sentence for c in chunks} == {0, 1}
    timing = chunks[-1].timings
    assert timing.latent > 0 and timing.flow > 0 and len(timing.windows) >= 1 and timing.first_audio > 0
    assert chunks[-1].last_in_sentence


def test_a_second_synthesis_allocates_no_new_pool_buffers(engine) -> None:  # type: ignore[no-untyped-def]
    speak(engine, LONG, noise_scale=0, noise_w=0)
    before = engine.pool.stats()
    speak(engine, LONG, noise_scale=0, noise_w=0)  # same durations, so the same shapes
    after = engine.pool.stats()
    assert after.misses == before.misses
    assert after.hits > before.hits
    assert after.bytes_held == before.bytes_held and after.bytes_in_use == 0


def test_pool_stays_flat_over_many_lengths(engine) -> None:  # type: ignore[no-untyped-def]
    # Deterministic durations: with noise, a sentence can run long enough to need the next
    # size class once, which is bounded growth, not a leak.
    words = LONG.split()
    lengths = list(range(1, len(words) + 1, 2))
    for n in lengths:  # every size class this text needs
        speak(engine, " ".join(words[:n]), noise_scale=0, noise_w=0)
    before = engine.pool.stats()
    for n in reversed(lengths):
        speak(engine, " ".join(words[:n]), noise_scale=0, noise_w=0)
    after = engine.pool.stats()
    assert (after.misses, after.bytes_held) == (before.misses, before.bytes_held)
    assert after.bytes_held < 8 * 2**20


def test_settings_change_the_audio(engine) -> None:  # type: ignore[no-untyped-def]
    text = "Your package was delivered to the front porch."
    normal = speak(engine, text, noise_scale=0, noise_w=0)
    slow = speak(engine, text, noise_scale=0, noise_w=0, length_scale=1.5)
    quiet = speak(engine, text, noise_scale=0, noise_w=0, volume=0.5)
    assert 1.3 < slow.size / normal.size < 1.7
    assert np.abs(quiet).max() == pytest.approx(np.abs(normal).max() / 2, rel=0.01)
    assert np.array_equal(normal, speak(engine, text, noise_scale=0, noise_w=0))


def test_sentence_silence_is_added_after_each_sentence(engine) -> None:  # type: ignore[no-untyped-def]
    plain = speak(engine, "Hi. Bye.", noise_scale=0, noise_w=0)
    spaced = speak(engine, "Hi. Bye.", noise_scale=0, noise_w=0, sentence_silence=0.5)
    assert spaced.size - plain.size == 2 * int(0.5 * engine.config.sample_rate)


def test_nothing_speakable_yields_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    assert speak(engine, "  👋 ☃  ").size == 0


def test_bad_settings_are_input_errors(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        list(engine.synthesize("hi", SynthesisSettings(length_scale=0)))
    with pytest.raises(InputError):
        list(engine.synthesize("hi", SynthesisSettings(noise_scale=float("nan"))))


def test_abandoned_stream_gives_buffers_back(engine) -> None:  # type: ignore[no-untyped-def]
    stream = engine.synthesize(LONG + " " + LONG)  # the flow and the next latent graph still queued
    next(stream)
    stream.close()
    assert engine.pool.stats().bytes_in_use == 0
    flow_and_head = engine.streamer.flow_pool.stats().bytes_in_use + engine.streamer.head_pool.stats().bytes_in_use
    assert flow_and_head == engine.streamer.fixed_bytes  # only the fixed buffers (head output ring, tail parts)
    assert speak(engine, "Still speaking.").size > 0


def test_enormous_run_on_sentence_is_cut_and_memory_bounded(engine) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(["word"] * 3000)  # one "sentence" of 15,000 characters
    sentences = text_to_sentences(text)
    assert len(sentences) > 30 and max(len(s.text) for s in sentences) <= 400
    stream = engine.synthesize(text)
    for _ in range(30):
        next(stream)
    stream.close()
    assert engine.pool.stats().high_water < 16 * 2**20


def test_a_second_engine_leaves_the_first_working(balanced) -> None:  # type: ignore[no-untyped-def]
    """espeak-ng is one per process: loading another engine once re-initialized it and the
    first engine then crashed (segfault) on its next sentence."""
    from conftest import speak
    from edgesay import Engine

    before = speak(balanced, "Good morning.")
    other = Engine.load(threads=1, quality="fast")
    again = speak(balanced, "Good morning.")  # new noise draw: about the same length, not equal
    assert abs(again.size - before.size) < 0.2 * before.size
    assert speak(other, "Good morning.").size > 0


def test_runs_spoken_by_two_engines_give_the_audio_of_one(engine) -> None:  # type: ignore[no-untyped-def]
    """A server's stream gives its engine back between sentences and goes on with another:
    each run starts afresh, so the audio is the same as one engine's, chunk for chunk."""
    from edgesay import Engine

    other = Engine.load(threads=2, quality="reference")
    settings = SynthesisSettings(noise_scale=0.0, noise_w=0.0, sentence_silence=0.2)
    text = "The first sentence is short. The second one is a little longer than the first. A third."
    whole = [c.samples.copy() for c in engine.synthesize(text, settings)]
    runs = list(engine.runs(text, settings))
    assert len(runs) == 3
    first = []
    for chunk in engine.speak(iter(runs), settings):
        first.append(chunk.samples.copy())
        if chunk.run_end:  # the first run's last chunk: its silence included
            assert chunk.run == 0
            break
    rest = [c.samples.copy() for c in other.speak(iter(runs[1:]), settings)]
    assert np.array_equal(np.concatenate(first + rest), np.concatenate(whole))
    ends = [(c.run, c.run_end) for c in engine.speak(iter(runs), settings) if c.run_end]
    assert ends == [(0, True), (1, True), (2, True)]
