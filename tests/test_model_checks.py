"""Models that cannot be what they claim are refused with one sentence: config vs weights, devices, manifests."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from analysis import encoder
from analysis.encoder import load_model
from analysis.errors import ModelLoadError, SenseScopeError


def _edited_copy(src: str, dst: Path, edit) -> str:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    edit(config)
    (dst / "config.json").write_text(json.dumps(config))
    return str(dst)


def test_config_without_layer_count_is_refused(tiny_bert, tmp_path):
    """No num_hidden_layers: BERT's default 12 layers would be loaded, 9 of them random (exit 0 before)."""
    path = _edited_copy(tiny_bert, tmp_path / "nokey", lambda c: c.pop("num_hidden_layers"))
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert "config says 12 layers but the weights hold 3" in message and "num_hidden_layers" in message
    assert "\n" not in message


def test_config_with_fewer_layers_than_the_weights_is_refused(tiny_bert, tmp_path):
    path = _edited_copy(tiny_bert, tmp_path / "two", lambda c: c.update(num_hidden_layers=2))
    with pytest.raises(ModelLoadError, match="config says 2 layers but the weights hold 3"):
        load_model(path)


def test_matching_models_still_load(tiny_bert, tiny_roberta, tiny_gpt2):
    """A missing pooler / unused masked-LM head (tiny_bert is saved with an MLM head) is normal and accepted."""
    assert load_model(tiny_bert).n_layers == 4
    assert load_model(tiny_roberta).n_layers == 3
    assert load_model(tiny_gpt2).n_layers == 3


def test_layer_weight_check_names_the_field():
    class GPT2Like:
        attribute_map = {"num_hidden_layers": "n_layer"}

    report = {"missing_keys": [f"h.{i}.attn.c_attn.weight" for i in (2, 3)], "unexpected_keys": []}
    with pytest.raises(ModelLoadError, match="config says 4 layers but the weights hold 2; fix n_layer"):
        encoder.check_layer_weights("m", GPT2Like(), 4, report)
    # pooler and heads do not count
    encoder.check_layer_weights("m", GPT2Like(), 4, {"missing_keys": ["pooler.dense.weight"],
                                                     "unexpected_keys": ["cls.predictions.bias"]})


@pytest.mark.parametrize("device", ["tpu", "cuda", "cuda:1", "mps", "gpu0"])
def test_unavailable_devices_are_refused(tiny_bert, device):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and encoder._mps_available(torch):
        pytest.skip("this machine has MPS")
    with pytest.raises(SenseScopeError) as info:
        load_model(tiny_bert, device=device)
    assert repr(device) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SenseScopeError):
        encoder.pick_device(device)


def test_known_devices_are_accepted():
    assert encoder.pick_device("cpu") == "cpu"
    assert encoder.pick_device(" CPU ") == "cpu"
    assert encoder.pick_device(None) in {"cpu", "cuda", "mps"}
    assert encoder.pick_device("auto") == encoder.pick_device(None)


def test_describe_names_the_model_without_an_install_path(tiny_bert, minilm_path):
    lm = load_model(tiny_bert)
    described = lm.describe()["path"]
    assert not Path(described).is_absolute() and described == Path(tiny_bert).name
    assert lm.path == str(Path(tiny_bert).resolve())  # the resolved path (cache keys) is unchanged
    assert encoder.display_model_path(minilm_path) == "all-MiniLM-L6-v2"
    assert encoder.display_model_path("some-org/some-model") == "some-org/some-model"  # a hub id as given


def test_one_input_length_rule_for_encoding_and_fine_tuning():
    from types import SimpleNamespace

    from analysis.model_files import max_input_length

    tok = SimpleNamespace(model_max_length=int(1e30))  # transformers' "no limit" placeholder
    assert max_input_length(SimpleNamespace(model_type="bert", max_position_embeddings=512), tok) == 512
    for roberta_like in ("roberta", "xlm-roberta", "camembert", "data2vec-text"):
        assert max_input_length(SimpleNamespace(model_type=roberta_like, max_position_embeddings=514), tok) == 512
    assert max_input_length(SimpleNamespace(model_type="gpt2", n_positions=1024), tok) == 1024
    assert max_input_length(SimpleNamespace(model_type="bert", max_position_embeddings=512),
                            SimpleNamespace(model_max_length=128)) == 128
