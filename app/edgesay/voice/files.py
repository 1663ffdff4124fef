"""A voice as files: a Piper voice (.onnx with its .onnx.json) or an edgesay bundle (.edgesay)."""

from dataclasses import dataclass
from pathlib import Path

from ..system import paths

ONNX_SUFFIX = ".onnx"
SUFFIX = paths.BUNDLE_SUFFIX


def config_beside(model: Path) -> Path:
    """Where Piper keeps a voice's config: next to the model, `NAME.onnx.json`."""
    return model.with_name(model.name + ".json")


@dataclass(frozen=True)
class VoiceFiles:
    model: Path  # .onnx (a Piper voice) or .edgesay (a bundle, which holds its config)
    config: Path | None  # .onnx.json; None for a bundle

    @property
    def is_bundle(self) -> bool:
        return self.model.suffix == SUFFIX

    @classmethod
    def from_model(cls, model: Path, config: Path | None = None) -> "VoiceFiles":
        if model.suffix == SUFFIX:
            return cls(model, None)
        return cls(model, config or config_beside(model))

    @classmethod
    def default(cls) -> "VoiceFiles":
        """The default voice as Piper ships it (the package's embedded bundle is preferred
        when there is one: see loading.store)."""
        return cls(*paths.default_voice())
