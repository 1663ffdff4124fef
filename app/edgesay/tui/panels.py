"""What the TUI's right-hand panels say, as plain text: the last utterance's latency by stage and
the device. No Textual here, so the wording is tested on its own."""

from ..system.sysinfo import SystemSample
from .runner import Utterance


def bar(percent: float, width: int = 10) -> str:
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def latency_text(utterance: Utterance | None) -> str:
    if utterance is None:
        return "Nothing spoken yet: type above and press ctrl+s."
    windows = sum(len(t.windows) for t in utterance.sentences)
    longest = max((w for t in utterance.sentences for w in t.windows), default=0.0)
    ttfa = f"{utterance.first_audio:.3f} s" if utterance.first_audio is not None else "-"
    rtf = f"{utterance.rtf:.2f}" if utterance.rtf is not None else "-"
    state = " (stopped)" if utterance.stopped else ""
    lines = [
        f"{len(utterance.sentences)} sentence(s), {utterance.audio_seconds:.2f} s of audio{state}",
        f"time to first audio  {ttfa:>9}",
        f"text                 {utterance.stage('text'):7.3f} s",
        f"phonemes             {utterance.stage('phonemes'):7.3f} s",
        f"latent               {utterance.stage('latent'):7.3f} s",
        f"flow                 {utterance.stage('flow'):7.3f} s",
        f"decoder x{windows:<3}         {utterance.stage('windows'):7.3f} s  (longest {longest:.3f} s)",
        "  windows " + " ".join(f"{w * 1000:.0f}" for t in utterance.sentences for w in t.windows)[:60] + " ms",
        f"  compensation       {utterance.stage('compensation'):7.3f} s",
        f"total                {utterance.total:7.3f} s",
        f"real-time factor     {rtf:>9}",
    ]
    return "\n".join(lines)


def system_text(sample: SystemSample, pool: str) -> str:
    rss = f"{sample.rss_mb:.1f} MB" if sample.rss_mb is not None else "unavailable"
    lines = [f"process RSS   {rss}", f"pools         {pool}"]
    if sample.cpu_percent is None:
        lines.append("CPU           unavailable")
    else:
        for n, load in enumerate(sample.cpu_percent):
            lines.append(f"CPU {n:<2}        {bar(load)} {load:3.0f} %")
    lines.append("temperature   " + (f"{sample.temperature_c:.1f} °C" if sample.temperature_c is not None
                                     else "unavailable"))
    if sample.frequency_mhz is None:
        lines.append("frequency     unavailable")
    else:
        lines.append("frequency     " + " ".join(f"{f:.0f}" for f in sample.frequency_mhz) + " MHz")
    return "\n".join(lines)
