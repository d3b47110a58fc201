"""A user's model in any common form, made into a plain HF folder the loop can fine-tune and save.

`resolve_model(source, home)` takes what a user has and gives back the folder to use:

    an HF folder (config.json)     used as it is; one converted from GGUF the obvious way (its
                                   config still says `quantization_config: {quant_method: gguf}`,
                                   its weights are dense) is copied without that key, because
                                   transformers refuses to save such a model -- after a whole
                                   round of work, at its first fine-tune. Any other quantization
                                   (bitsandbytes, GPTQ, AWQ, ...) is refused now, in one line.
    a .gguf file (llama.cpp)       dequantized once to fp32 into home/models/imported/<stem>-<sha>/
                                   (safetensors, the tokenizer with its chat template, a config
                                   without quantization_config, and a synthloop.json naming the
                                   source and its sha256). Keyed on the content hash: the same file
                                   again finds that folder; a changed file converts again.
    a hub id (org/name)            downloaded into home/models/hub/ when the hub is allowed
                                   (HF_HUB_OFFLINE=0), then treated as a folder; offline (the CLI's
                                   default), a one-line error says how to pass a local file instead.

Every user mistake is one `UserError` line; a conversion is written to a `.staging-*` folder and
renamed at the end, so a crash or a refused file leaves no half folder behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from synthloop.errors import UserError

# Two short prompts whose greedy continuations must agree between the GGUF model and its folder.
CHECK_PROMPTS = ("What is 2 + 3?", "Name a colour.")
CHECK_TOKENS = 8
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_OFFLINE = {"1", "ON", "YES", "TRUE"}
# What an HF model folder is made of: a hub repo's other formats (ONNX, a dozen GGUF quantizations)
# are not downloaded.
_HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]


class ModelImportError(UserError):
    """A model source that cannot be used or converted; the message says what to give instead."""


@dataclass(frozen=True)
class ImportedModel:
    path: Path  # the HF folder to load, fine-tune and save
    kind: Literal["folder", "gguf", "hub"]
    source: str  # what the user gave: a folder, a .gguf file (absolute) or a hub id
    sha256: str | None = None  # of the .gguf file (or of the folder's files when it was copied)
    converted: bool = False  # this call wrote `path` (False: used as it is, or found from an earlier call)

    def record(self) -> dict:
        """Flat, JSON-ready: what the model-0 stats keep about where the model came from."""
        return {"import_kind": self.kind, "import_source": self.source, "import_sha256": self.sha256,
                "import_converted": self.converted}


def resolve_model(source: str, home: Path, tell: Callable[[str], None] | None = None) -> ImportedModel:
    """The HF folder for `source` (a folder, a .gguf file or a hub id), importing it into `home`
    when it has to be converted. `tell` hears one line before a conversion (it takes a while)."""
    tell = tell or _log
    p, what = _probe(source)
    if what == "dir":
        return _from_folder(p, Path(home), tell)
    if what == "file":
        if p.suffix.lower() != ".gguf":
            raise ModelImportError(f"{_short(source)} is a file but not a .gguf file; give an HF model folder "
                                   "(with config.json), a .gguf file or a hub id (org/name)")
        return import_gguf(p, Path(home), tell)
    if looks_like_hub_id(source):
        return _from_hub(source, Path(home), tell)
    raise ModelImportError(f"no such model folder or .gguf file: {_short(source)}; give an HF model folder "
                           "(with config.json), a .gguf file or a hub id (org/name)")


def source_problem(source: str) -> str | None:
    """Why `source` cannot be a model, told without loading anything (config checks use it), or None.
    A .gguf file is only checked for its magic bytes here; a hub id only for its shape."""
    p, what = _probe(source)
    if what == "dir":
        if not (p / "config.json").is_file():
            return _no_config(p)
        try:
            method = quantization_method(p)
        except ModelImportError as e:
            return str(e)
        return _refusal(p, method) if method not in (None, "gguf") else None
    if what == "file":
        if p.suffix.lower() != ".gguf":
            return f"{_short(source)} is a file but not a .gguf file (give an HF folder, a .gguf file or a hub id)"
        try:
            with p.open("rb") as f:
                ok = f.read(4) == b"GGUF"
        except OSError as e:
            return f"cannot read {_short(source)}: {_first_line(e)}"
        return None if ok else f"not a readable GGUF file: {_short(source)} (it does not start with the GGUF magic bytes)"
    if looks_like_hub_id(source):
        return None
    return f"{_short(source)} is not a model folder (no such folder), a .gguf file or a hub id (org/name)"


def looks_like_hub_id(source: str) -> bool:
    """`org/name`, and no such local path: what the hub would take for a repository id."""
    return bool(_HUB_ID.fullmatch(source)) and not source.lower().endswith(".gguf") and _probe(source)[1] is None


def _probe(source: str) -> tuple[Path, Literal["dir", "file"] | None]:
    """The path `source` names and what is there; a name no file system takes (too long, a NUL
    byte) is nothing there, not a crash."""
    try:
        p = Path(source).expanduser()
        return p, "dir" if p.is_dir() else "file" if p.is_file() else None
    except (OSError, ValueError, RuntimeError):  # RuntimeError: `~user` with no such user
        return Path(), None


def quantization_method(folder: Path) -> str | None:
    """The quantization a folder's config declares (`gguf`, `bitsandbytes`, `gptq`, ...), or None."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ModelImportError(f"cannot read {folder / 'config.json'}: {e}") from None
    q = cfg.get("quantization_config") if isinstance(cfg, dict) else None
    if isinstance(q, dict):
        return str(q.get("quant_method") or "unknown")
    if q is not None:
        return "unknown"
    if (folder / "quantize_config.json").is_file():  # AutoGPTQ's own file, beside a plain config
        return "gptq"
    return None


# -- folders ----------------------------------------------------------------------------------
def _no_config(folder: Path) -> str:
    ggufs = sorted(folder.glob("*.gguf"))
    hint = f"; it holds {ggufs[0].name}: pass that file" if len(ggufs) == 1 else ""
    return f"{folder} is not a model folder (no config.json in it){hint}"


def _refusal(folder: Path, method: str) -> str:
    return (f"{folder} holds a {method}-quantized model, which cannot be fine-tuned and saved here (CPU, "
            "full weights): give the unquantized model folder or a .gguf file of it")


def _from_folder(folder: Path, home: Path, tell: Callable[[str], None], kind: str = "folder",
                 source: str | None = None) -> ImportedModel:
    """The folder itself, or -- when its config still says it was a GGUF -- a copy without that."""
    folder = folder.resolve()
    source = source or str(folder)
    if not (folder / "config.json").is_file():
        raise ModelImportError(_no_config(folder))
    method = quantization_method(folder)
    if method is None:
        return ImportedModel(folder, kind, source)
    if method != "gguf":
        raise ModelImportError(_refusal(folder, method))
    digest = _folder_sha256(folder)
    dest = _imported_dir(home, folder.name, digest)
    if _done(dest, digest):
        return ImportedModel(dest, kind, source, digest)
    tell(f"importing {folder}: copying it to {dest} without its quantization_config (its weights are dense)")
    with _staging(dest) as stage:
        shutil.copytree(folder, stage, ignore=shutil.ignore_patterns(".*"))
        cfg = json.loads((stage / "config.json").read_text())
        cfg.pop("quantization_config", None)
        (stage / "config.json").write_text(json.dumps(cfg, indent=2))
        _write_meta(stage, {"source": source, "sha256": digest, "kind": kind, "from": "folder",
                            "dropped": "quantization_config (gguf)"})
    return ImportedModel(dest, kind, source, digest, converted=True)


def _folder_sha256(folder: Path) -> str:
    """One hash over a folder's files (names and contents; dot-files aside), so a changed folder
    imports again."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)):
        h.update(str(f.relative_to(folder)).encode() + b"\0")
        h.update(_file_sha256(f).encode())
    return h.hexdigest()


# -- the hub ----------------------------------------------------------------------------------
def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().upper() in _OFFLINE


def _from_hub(repo_id: str, home: Path, tell: Callable[[str], None]) -> ImportedModel:
    """A hub snapshot in home/models/hub/, then the folder rules; offline, one line saying what to do."""
    how = ("download it where there is network and pass the folder, or pass a local .gguf file "
           "(--model / bootstrap.base_model)")
    if _hub_offline():
        raise ModelImportError(f"{repo_id} is no local folder or file, and as a hub id it needs the Hugging Face "
                               f"hub, which is offline here (HF_HUB_OFFLINE=1; set HF_HUB_OFFLINE=0 to allow "
                               f"downloads): {how}")
    from huggingface_hub import snapshot_download

    dest = Path(home).resolve() / "models" / "hub" / repo_id.replace("/", "--")
    tell(f"downloading {repo_id} from the Hugging Face hub into {dest}")
    try:
        folder = Path(snapshot_download(repo_id, local_dir=dest, allow_patterns=_HUB_FILES))
    except (OSError, ValueError) as e:
        raise ModelImportError(f"cannot download {repo_id}: the hub is not reachable or has no such model "
                               f"({_first_line(e)}): {how}") from None
    found = _from_folder(folder, home, tell, kind="hub", source=repo_id)
    return ImportedModel(found.path, "hub", repo_id, found.sha256, found.converted)


# -- GGUF files -------------------------------------------------------------------------------
def import_gguf(file: Path, home: Path, tell: Callable[[str], None] | None = None) -> ImportedModel:
    """Dequantize `file` once into home/models/imported/<stem>-<sha256[:12]>/ and return that folder."""
    tell = tell or _log
    file = Path(file).resolve()
    digest = _file_sha256(file)
    dest = _imported_dir(home, file.stem, digest)
    if _done(dest, digest):
        return ImportedModel(dest, "gguf", str(file), digest)
    _check_gguf(file)
    tell(f"importing {file.name} ({_size(file.stat().st_size)}): dequantizing it to an fp32 HF "
         f"folder at {dest}, once (a 135M model takes about a minute on 2 CPU cores)")
    with _staging(dest) as stage:
        model, tok = _load_gguf(file)
        expected = _greedy(model, tok)
        _save_dense(model, tok, stage)
        del model
        _check_same(file, expected, stage)
        _write_meta(stage, {"source": str(file), "sha256": digest, "kind": "gguf", "gguf_file": file.name})
    return ImportedModel(dest, "gguf", str(file), digest, converted=True)


def _check_gguf(file: Path) -> None:
    """A readable GGUF (header, metadata and every tensor inside the file), or one line saying not."""
    try:
        from gguf import GGUFReader

        GGUFReader(str(file))
    except ImportError:
        raise ModelImportError("reading a .gguf file needs the gguf package: pip install gguf") from None
    except Exception as e:  # noqa: BLE001 -- any failure to parse a third-party file is "unreadable"
        raise ModelImportError(f"not a readable GGUF file: {file} ({_first_line(e)}); it may be truncated: "
                               "download it again, or give an HF model folder") from None


def _load_gguf(file: Path):
    """transformers' GGUF loader: the model dequantized to fp32, and the tokenizer with its template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
        model = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError) as e:  # an architecture or tokenizer it cannot build
        raise ModelImportError(f"cannot convert {file}: {_first_line(e)}") from None
    return model.eval(), tok


def _dense_config(config):
    """A copy of the config without what makes transformers treat the model as quantized."""
    import copy

    config = copy.deepcopy(config)
    for attr in ("quantization_config", "gguf_file"):
        if attr in config.__dict__:
            delattr(config, attr)
    return config


def _save_dense(model, tok, stage: Path) -> None:
    """The GGUF-loaded model's weights saved through a fresh model of the same class: transformers
    refuses `save_pretrained` on the loaded one (it counts as quantized), and a folder whose config
    keeps `quantization_config` loads but fails at its first save after fine-tuning."""
    import torch

    with torch.device("meta"):
        fresh = type(model)(_dense_config(model.config))
    fresh.load_state_dict(model.state_dict(), assign=True)  # shares the tensors: no second copy
    fresh.generation_config = model.generation_config
    fresh.save_pretrained(stage)
    tok.save_pretrained(stage)


def _greedy(model, tok) -> list[list[int]]:
    """Greedy continuations (token ids) of the check prompts, in the chat format when there is one."""
    import torch

    out = []
    for prompt in CHECK_PROMPTS:
        text = (tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
                if tok.chat_template else prompt)
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=CHECK_TOKENS, do_sample=False,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        out.append(ids[0, enc["input_ids"].shape[1]:].tolist())
    return out


def _check_same(file: Path, expected: list[list[int]], stage: Path) -> None:
    """The saved folder, loaded as the loop loads it, must continue the check prompts as the GGUF did."""
    from .model import load

    model, tok = load(stage)
    got = _greedy(model, tok)
    if got != expected:
        raise ModelImportError(f"converting {file} changed the model's greedy output (GGUF {expected[0]} vs "
                               f"folder {got[0]}): refusing the conversion; give an HF folder of the model instead")


# -- the imported folder, written once and atomically -------------------------------------------
def _imported_dir(home: Path, name: str, digest: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "model"
    return Path(home).resolve() / "models" / "imported" / f"{safe}-{digest[:12]}"


def _done(dest: Path, digest: str) -> bool:
    """A finished import of this content: the folder exists and its synthloop.json has the hash."""
    try:
        return json.loads((dest / "synthloop.json").read_text()).get("sha256") == digest
    except (OSError, ValueError):
        return False


class _staging:
    """`with _staging(dest) as stage:` write into `stage`; on success it becomes `dest` in one
    rename, on any failure it is removed. Stale stages of crashed processes are swept first."""

    def __init__(self, dest: Path):
        self.dest = dest
        self.stage = dest.parent / f".staging-{dest.name}-{os.getpid()}"

    def __enter__(self) -> Path:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        for old in self.dest.parent.glob(f".staging-{self.dest.name}-*"):
            if old == self.stage or not _alive(old.name.rsplit("-", 1)[-1]):
                shutil.rmtree(old, ignore_errors=True)
        return self.stage

    def __exit__(self, kind, value, tb) -> bool:
        if kind is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        if self.dest.exists():  # a half folder from before, or another process finished first
            if _done(self.dest, json.loads((self.stage / "synthloop.json").read_text())["sha256"]):
                shutil.rmtree(self.stage, ignore_errors=True)
                return False
            shutil.rmtree(self.dest)
        self.stage.rename(self.dest)
        return False


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _write_meta(stage: Path, meta: dict) -> None:
    (stage / "synthloop.json").write_text(json.dumps(meta, indent=2))


def _file_sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _short(text: str) -> str:
    """A user's value for an error line: a 5,000-character path is not printed whole."""
    return text if len(text) <= 120 else text[:117] + "..."


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
