"""The model side of a run: the masked-LM model and its tokenizer loaded offline, a new head tied, the length."""

from __future__ import annotations

from typing import Sequence

from analysis.errors import ConfigError, ModelLoadError
from analysis.model_files import _allow_download, max_input_length, quiet_transformers, resolve_model_path

# Model families whose masked-LM head is one module applied to the last hidden states (see _Run._find_head).
_HEAD_ONLY_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "data2vec-text", "mpnet", "megatron-bert",
                    "ernie", "nezha", "roformer"}


# ----------------------------------------------------------------------------------------------- model + tokenizer
def _resolve_model(name: str | None) -> tuple[str, bool]:
    """(path or hub id, local_files_only), by the rules every model load follows (:mod:`analysis.model_files`, which
    knows the packaged default model)."""
    return resolve_model_path(name), not _allow_download()


#: Silence transformers' load reports and progress bars for the duration (restoring them afterwards).
_quiet = quiet_transformers


def _load_tokenizer(path: str, name, local_only: bool):
    from transformers import AutoTokenizer

    with _quiet():
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=local_only, trust_remote_code=False)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the tokenizer of model {name!r}: "
                                 f"{(str(exc).splitlines() or [''])[0][:200]}") from exc
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(f"model {name!r} has no fast tokenizer (tokenizer.json); fine-tuning needs one to find "
                             f"word boundaries for masking")
    if tok.mask_token_id is None:
        raise ModelLoadError(f"model {name!r} has no mask token, so it cannot be trained as a masked language model "
                             f"(choose an encoder such as BERT or RoBERTa)")
    if tok.pad_token_id is None:
        raise ModelLoadError(f"model {name!r}'s tokenizer has no padding token")
    return tok


def _head_keys(model, missing: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split missing weight names into those of the LM head and those of the encoder body."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    head = sorted(k for k in missing if not k.startswith(prefix))
    body = sorted(k for k in missing if k.startswith(prefix))
    return head, body


def _tie_head(model) -> bool:
    """Make sure the output projection shares the input embedding matrix; True if it had to be tied here."""
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out_emb is None or in_emb is None:
        raise ModelLoadError("this model has no output projection to tie to its input embeddings")
    if out_emb.weight is in_emb.weight:
        return False
    out_emb.weight = in_emb.weight
    model.config.tie_word_embeddings = True
    return True


def _load_model(path: str, name, local_only: bool, torch_state):
    """Load an AutoModelForMaskedLM; returns (model, head_message or None, body_message or None).

    ``torch_state`` is the RNG state a new head is initialised from (so the initialisation is seeded).
    """
    import torch
    from transformers import AutoModelForMaskedLM

    with _quiet(), torch.random.fork_rng(devices=[]):
        torch.set_rng_state(torch_state)
        try:
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, local_files_only=local_only, trust_remote_code=False, dtype=torch.float32,
                output_loading_info=True)
        except ValueError as exc:
            if "Unrecognized configuration class" in str(exc):
                raise ModelLoadError(f"model {name!r} is not an encoder with a masked-LM form (e.g. GPT-style models "
                                     f"cannot be trained with masked-LM); choose a BERT-like model") from exc
            raise ModelLoadError(f"cannot load model {name!r}: {(str(exc).splitlines() or [''])[0][:200]}") from exc
        except Exception as exc:
            raise ModelLoadError(f"cannot load model {name!r}: {(str(exc).splitlines() or [''])[0][:200]}") from exc
    head, body = _head_keys(model, list(info.get("missing_keys", ())))
    head_msg = body_msg = None
    if head:
        _tie_head(model)
        n_new = sum(p.numel() for n, p in model.named_parameters() if n in head)
        head_msg = (f"model {name!r} has no masked-LM head: a new head was created ({len(head)} weight tensors, "
                    f"{n_new:,} parameters, randomly initialised from the seed) with its decoder tied to the input "
                    f"embeddings; the held-out loss at step 0 reflects this untrained head")
    else:
        _check_tied(model)
    if body:
        body_msg = (f"{len(body)} weight tensors of the encoder were missing from {name!r} and are randomly "
                    f"initialised (first: {body[0]})")
    return model, head_msg, body_msg


def _check_tied(model) -> None:
    """Keep a tied head tied (transformers ties on load when the config asks for it)."""
    if getattr(model.config, "tie_word_embeddings", False):
        _tie_head(model)


def _max_length(tokenizer, model, wanted: int | None) -> int:
    limit = max_input_length(model.config, tokenizer)
    if wanted is None:
        return min(128, limit)
    if wanted > limit:
        raise ConfigError(f"max_length {wanted} is longer than this model takes ({limit} tokens)")
    return int(wanted)


