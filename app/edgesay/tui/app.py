"""The field-testing TUI: `edgesay` with no text, in a terminal (over SSH too).

Type, speak, listen, and watch how the device copes: each stage's latency, the real-time
factor, their history, process memory and the engine's pools, CPU load, temperature and clock.
Synthesis and loading run on worker threads; the UI thread only draws. The styles are in this
file (no .tcss to ship), so the binary carries them.
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    ListItem,
    ListView,
    Select,
    Sparkline,
    Static,
    TextArea,
)

from ..errors import EdgesayError, OutputError
from ..loading import lookup, store
from ..loading.factory import Engine
from ..output.sinks import PlaybackSink, Sink, WavFileSink
from ..system.sysinfo import SystemMonitor, SystemSample
from ..voice import levels
from ..voice.config import SynthesisSettings
from .panels import latency_text, system_text
from .runner import Player, Utterance, speak

HISTORY = 10  # utterances kept for replay and plotted
REFRESH_SECONDS = 1.0  # system panel; cheap (a few /proc reads) and calm to read
DEFAULT_VOICE = "default"
DEFAULT_TEXT = "Hello from edgesay. This is how fast this device speaks."


@dataclass(frozen=True)
class Choices:
    """What to load: voice (None: the default), quality level, threads, the user's lexicons."""

    voice: str | None
    quality: str | None
    threads: int | None
    lexicons: tuple[Path, ...] = ()


class EdgesayApp(App[None]):
    TITLE = "edgesay"
    SUB_TITLE = "field test"
    CSS = """
    #left { width: 3fr; }
    #right { width: 2fr; border-left: solid $primary; padding: 0 1; }
    #text { height: 7; }
    .row { height: auto; }
    .row Button { margin-right: 1; }
    .field { width: 1fr; height: auto; }
    .field Input, .field Select { width: 100%; }
    #history { height: 1fr; min-height: 4; border: round $secondary; }
    .heading { text-style: bold; color: $accent; margin-top: 1; }
    Sparkline { height: 3; }
    #status { color: $text-muted; }
    """
    BINDINGS: ClassVar = [
        Binding("ctrl+s", "speak", "Speak", priority=True),
        Binding("escape", "stop", "Stop", priority=True),
        Binding("ctrl+r", "replay", "Replay", priority=True),
        Binding("ctrl+o", "save", "Save WAV", priority=True),
        Binding("f2", "focus('voice')", "Voice"),
        Binding("f3", "focus('quality')", "Quality"),
        Binding("f4", "focus('length')", "Settings"),
        Binding("f5", "focus('history')", "History"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, choices: Choices = Choices(None, None, None),
                 settings: SynthesisSettings | None = None, *,
                 loader: Callable[[Choices], Engine] | None = None,
                 player: Callable[[int], Sink] = PlaybackSink,
                 monitor: Callable[[], SystemSample] | None = None,
                 save_dir: Path = Path(".")) -> None:
        super().__init__()
        self.choices = choices
        self.settings = settings or SynthesisSettings()
        self._loader = loader or self._load_engine
        self._player_factory = player
        self._monitor = monitor or SystemMonitor().sample
        self.save_dir = save_dir
        self.engine: Engine | None = None
        self.history: deque[Utterance] = deque(maxlen=HISTORY)
        self._stop = threading.Event()
        self._player: Player | None = None
        self.speaking = False
        self.saved: list[Path] = []

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        found = lookup.list_voices()
        # The default voice is "default" (None to the loader); others by path.
        voice_options = [(_voice_label(v), DEFAULT_VOICE if v.default else str(v.path)) for v in found]
        if self.choices.voice and self.choices.voice not in {value for _, value in voice_options}:
            voice_options.append((self.choices.voice, self.choices.voice))
        default_voice = self.choices.voice or DEFAULT_VOICE
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                # The example is a placeholder: typing replaces it (Speak on an empty box says it).
                yield TextArea(placeholder=DEFAULT_TEXT, id="text")
                with Horizontal(classes="row"):
                    yield Button("Speak (ctrl+s)", id="speak", variant="success")
                    yield Button("Stop (esc)", id="stop", variant="error")
                    yield Button("Replay (ctrl+r)", id="replay")
                    yield Button("Save WAV (ctrl+o)", id="save")
                with Horizontal(classes="row"):
                    with Vertical(classes="field"):
                        yield Label("voice (F2)")
                        yield Select(voice_options, value=default_voice, allow_blank=False, id="voice")
                    with Vertical(classes="field"):
                        yield Label("quality (F3)")
                        # Until the voice has loaded, the level a prepared voice defaults to on this
                        # CPU; then the level it loaded at (a bundle names its own default).
                        yield Select([(q, q) for q in levels.NAMES], value=self.choices.quality or levels.here(),
                                     allow_blank=False, id="quality")
                with Horizontal(classes="row"):
                    for name, label, value in (
                        ("length", "length scale (F4)", self.settings.length_scale),
                        ("noise", "noise scale", self.settings.noise_scale),
                        ("noise_w", "noise w", self.settings.noise_w),
                        ("threads", "threads", self.choices.threads),
                    ):
                        with Vertical(classes="field"):
                            yield Label(label)
                            yield Input("" if value is None else str(value), placeholder="voice default"
                                        if name != "threads" else "auto", id=name)
                yield Label("last utterances (F5, enter replays)", classes="heading")
                yield ListView(id="history")
                yield Static("", id="status")
            with VerticalScroll(id="right"):
                yield Label("latency, last utterance", classes="heading")
                yield Static(latency_text(None), id="latency")
                yield Label("time to first audio, history", classes="heading")
                yield Sparkline([], id="ttfa_plot")
                yield Label("real-time factor, history", classes="heading")
                yield Sparkline([], id="rtf_plot")
                yield Label("device", classes="heading")
                yield Static("", id="system")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_system()
        self.set_interval(REFRESH_SECONDS, self.refresh_system)
        self.load()

    # --- engine ---------------------------------------------------------------------------

    @staticmethod
    def _load_engine(choices: Choices) -> Engine:
        engine = Engine.load(lookup.resolve(choices.voice), threads=choices.threads, quality=choices.quality,
                             prepare=True)
        engine.use_lexicon(choices.lexicons)
        return engine

    def status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def load(self) -> None:
        self.engine = None
        self.status(f"loading {self.choices.voice or 'the default voice'} ({self.choices.quality or 'default'})...")
        self._load(self.choices)

    @work(thread=True, exclusive=True, group="load")
    def _load(self, choices: Choices) -> None:
        started = time.perf_counter()
        try:
            engine = self._loader(choices)
        except EdgesayError as exc:
            self.call_from_thread(self._failed, f"cannot load the voice: {exc}")
            return
        except Exception as exc:  # onnxruntime and friends: shown, never a traceback
            self.call_from_thread(self._failed, f"cannot load the voice: {exc!r}")
            return
        self.call_from_thread(self._loaded, engine, choices, time.perf_counter() - started)

    def _loaded(self, engine: Engine, choices: Choices, seconds: float) -> None:
        if choices != self.choices:
            return  # the user changed their mind while it loaded
        self.engine = engine
        select = self.query_one("#quality", Select)
        if select.value != engine.quality:
            with select.prevent(Select.Changed):  # showing the level is not choosing one
                select.value = engine.quality
        name = store.display_name(engine.config.name)
        self.status(f"ready: {name} at {engine.quality}, {engine.threads} thread(s), "
                    f"loaded in {seconds:.2f} s")

    def _failed(self, message: str) -> None:
        self.status(message)
        self.notify(message, severity="error", timeout=8)

    @on(Select.Changed)
    def _choice_changed(self, event: Select.Changed) -> None:
        if event.select.id == "voice" and isinstance(event.value, str):
            self._reload(voice=None if event.value == DEFAULT_VOICE else event.value)
        elif event.select.id == "quality" and isinstance(event.value, str):
            self._reload(quality=event.value)

    def _reload(self, **change: object) -> None:
        new = Choices(**{**vars(self.choices), **change})
        if new != self.choices:
            self.choices = new
            self.load()

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _setting_changed(self, event: Input.Submitted | Input.Blurred) -> None:
        name, raw = event.input.id, event.input.value.strip()
        try:
            if name == "threads":
                threads = int(raw) if raw else None
                if threads is not None and not 1 <= threads <= 64:
                    raise ValueError
                self._reload(threads=threads)
                return
            value = float(raw) if raw else None
            if (value is not None and not 0 <= value <= 10) or (name == "length" and value == 0):
                raise ValueError
        except ValueError:
            self.notify(f"{name}: {raw!r} is not a usable value", severity="warning")
            return
        field = {"length": "length_scale", "noise": "noise_scale", "noise_w": "noise_w"}[name or ""]
        self.settings = SynthesisSettings(**{**vars(self.settings), field: value})

    # --- speaking -------------------------------------------------------------------------

    @on(Button.Pressed, "#speak")
    def action_speak(self) -> None:
        text = self.query_one("#text", TextArea).text.strip() or DEFAULT_TEXT
        if self.engine is None:
            self.notify("the voice is still loading (or failed to load)", severity="warning")
            return
        self.action_stop()
        self._stop = threading.Event()
        self.speaking = True
        self._speak(self.engine, text, self.settings, self._stop)

    def _open_player(self, sample_rate: int) -> Player | None:
        try:
            sink = self._player_factory(sample_rate)
        except OutputError as exc:
            self.call_from_thread(self.notify, f"{exc}; each utterance is saved as a WAV instead",
                                  severity="warning", timeout=8)
            return None
        return Player(sink, lambda message: self.call_from_thread(
            self.notify, f"{message}; ctrl+o saves the audio as WAV", severity="warning", timeout=8))

    @work(thread=True, exclusive=True, group="speak")
    def _speak(self, engine: Engine, text: str, settings: SynthesisSettings, stop: threading.Event) -> None:
        player = self._player = self._open_player(engine.config.sample_rate)
        try:
            utterance = speak(engine, text, settings, stop, player,
                              on_chunk=lambda u: self.call_from_thread(self.show_progress, u))
        except EdgesayError as exc:
            self.call_from_thread(self._speak_failed, str(exc))
            return
        except Exception as exc:
            self.call_from_thread(self._speak_failed, repr(exc))
            return
        self.call_from_thread(self.add_utterance, utterance)
        if player is None and not utterance.stopped:
            self.call_from_thread(self.save_utterance, utterance)  # no sound: keep it as a file

    def _speak_failed(self, message: str) -> None:
        self.speaking = False
        self.notify(message, severity="error", timeout=8)

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        self._stop.set()
        if self._player is not None:
            self._player.stop()

    def show_progress(self, utterance: Utterance) -> None:
        self.query_one("#latency", Static).update(latency_text(utterance))

    def add_utterance(self, utterance: Utterance) -> None:
        """Record an utterance: panels, plots and the replay list (tests inject them here)."""
        self.speaking = False
        self.history.append(utterance)
        self.query_one("#latency", Static).update(latency_text(utterance))
        kept = list(self.history)
        self.query_one("#ttfa_plot", Sparkline).data = [u.first_audio or 0.0 for u in kept]
        self.query_one("#rtf_plot", Sparkline).data = [u.rtf or 0.0 for u in kept]
        listing = self.query_one("#history", ListView)
        listing.clear()
        for u in reversed(kept):
            ttfa = f"{u.first_audio:.2f}" if u.first_audio is not None else "-"
            label = f"{u.text[:48]!r}  {u.audio_seconds:.1f} s audio, first {ttfa} s"
            listing.append(ListItem(Label(label)))

    # --- replay and save -------------------------------------------------------------------

    def _selected(self) -> Utterance | None:
        if not self.history:
            self.notify("nothing spoken yet", severity="warning")
            return None
        index = self.query_one("#history", ListView).index or 0
        kept = list(self.history)
        return kept[-1 - min(index, len(kept) - 1)]

    @on(Button.Pressed, "#replay")
    def action_replay(self) -> None:
        utterance = self._selected()
        if utterance is not None:
            self.action_stop()
            self._replay(utterance)

    @on(ListView.Selected, "#history")
    def _history_selected(self) -> None:
        self.action_replay()

    @work(thread=True, exclusive=True, group="speak")
    def _replay(self, utterance: Utterance) -> None:
        player = self._player = self._open_player(utterance.sample_rate)
        if player is not None:
            player.play(utterance.audio)
            player.finish(complete=True)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        utterance = self._selected()
        if utterance is not None:
            self.save_utterance(utterance)

    def save_utterance(self, utterance: Utterance) -> None:
        stamp, n = time.strftime("edgesay-%Y%m%d-%H%M%S"), 1
        path = self.save_dir / f"{stamp}.wav"
        while path.exists():  # two saves in one second
            n += 1
            path = self.save_dir / f"{stamp}-{n}.wav"
        try:
            sink = WavFileSink(path, utterance.sample_rate)
            sink.write(utterance.audio)
            sink.close(complete=True)
        except OutputError as exc:
            self.notify(str(exc), severity="error")
            return
        self.saved.append(path)
        self.notify(f"saved {path} ({utterance.audio_seconds:.1f} s)")

    # --- device ---------------------------------------------------------------------------

    def refresh_system(self) -> None:
        sample = self._monitor()
        pool = "-"
        if self.engine is not None:
            stats = self.engine.pool.stats()
            pool = (f"held {stats.bytes_held / 1e6:.1f} MB, high-water {stats.high_water / 1e6:.1f} MB, "
                    f"hits {stats.hits}, misses {stats.misses}")
        try:
            panel = self.query_one("#system", Static)
        except NoMatches:  # the app is closing and its screen is gone: the timer fired once more
            return
        panel.update(system_text(sample, pool))


def run(choices: Choices, settings: SynthesisSettings, device: str | None = None) -> int:
    """The field-testing screen; `device`: the ALSA device it plays on (None: ALSA's default)."""
    EdgesayApp(choices, settings, player=partial(PlaybackSink, device=device)).run()
    return 0


def _voice_label(voice: lookup.VoiceInfo) -> str:
    """A voice in the voice list: its name, language and Piper quality."""
    return f"{voice.name}{' (default)' if voice.default else ''} · {voice.language_code} · {voice.quality}"
