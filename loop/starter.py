"""`synthloop init`: a commented starter config for "my model + my problem file".

It looks at both before writing anything. The model is an HF folder, a .gguf file or a hub id:
what needs converting (a .gguf, a folder whose config still says GGUF) is imported into the home
right away (training/importer.py), so the config names a folder `run` can fine-tune and save; the
folder's tokenizer tells whether there is a chat template. The file must be readable by the file
domain (its prompt column, whether answers end in GSM8K's `#### 42`, which picks the checker, and
its difficulty column, which sets the curriculum). The YAML it writes is checked with
`load_config` before it is put in place, so what `init` writes `run` accepts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

from synthloop.errors import UserError

from .config import load_config


class StarterError(UserError):
    """The model folder or the problem file cannot be used as they are."""


@dataclass(frozen=True)
class Starter:
    """What `write_starter` wrote, and what it found out on the way (for `init` to print)."""

    text: str
    model: dict  # inspect_model's answer
    problems: dict  # inspect_problems' answer


def inspect_model(source: str | Path, home: Path | None = None, tell: Callable[[str], None] | None = None) -> dict:
    """The folder `run` will use for `source` (an HF folder, a .gguf file or a hub id; imported into
    `home` first where it must be converted) and whether its tokenizer has a chat template."""
    from synthloop.training.importer import resolve_model
    from synthloop.warehouse import home_dir

    imported = resolve_model(str(source), home_dir(home), tell)
    return {"chat_template": _has_chat_template(imported.path), "path": imported.path, "imported": imported}


def _has_chat_template(path: Path) -> bool:
    has_template = (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file()
    tok_cfg = path / "tokenizer_config.json"
    if not has_template and tok_cfg.is_file():
        try:
            has_template = bool(json.loads(tok_cfg.read_text()).get("chat_template"))
        except (OSError, ValueError):
            pass
    return has_template


def inspect_problems(path: Path, difficulty_column: str | None = None) -> dict:
    """Columns, rows, the checker that fits the answers of a JSONL/Parquet problem file, and its
    difficulties: `difficulty_column` (default: a `difficulty` column when there is one)."""
    from synthloop.domains.file import PROMPT_COLUMNS, read_table

    if not path.is_file():
        raise StarterError(f"no such problem file: {path}")
    try:
        cols, rows = read_table(str(path))
    except ValueError as e:
        raise StarterError(str(e)) from None
    prompt = next((c for c in PROMPT_COLUMNS if c in cols), None)
    if prompt is None or "answer" not in cols:
        raise StarterError(f"{path} needs a prompt (or question/problem) column and an answer column; "
                           f"it has: {', '.join(cols) or 'none'}")
    answers = [str(r.get("answer")) for _, r, _ in rows[:50] if r]
    gsm8k = bool(answers) and sum("####" in a for a in answers) > len(answers) / 2
    return {"rows": len(rows), "prompt_column": prompt, "checker": "pattern" if gsm8k else "numeric",
            **difficulties_of(path, cols, rows, difficulty_column)}


def difficulties_of(path: Path, cols: list[str], rows: list, column: str | None) -> dict:
    """{difficulty_column, difficulties: {d: rows}, unrated: rows without a usable one, note}.
    The file domain takes integers >= 1 and skips other rows; a `difficulty` column found by
    default that holds no such integer is ignored (every row is difficulty 1, as without one)."""
    name = column or ("difficulty" if "difficulty" in cols else None)
    if column is not None and column not in cols:
        raise StarterError(f"{path} has no column {column!r} for --difficulty-column; "
                           f"its columns: {', '.join(cols) or 'none'}")
    n = sum(1 for _, r, _ in rows if r)
    if name is None:
        return {"difficulty_column": None, "difficulties": {1: n}, "unrated": 0, "note": None}
    values = [r.get(name) for _, r, _ in rows if r]
    good = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 1]
    if not good:
        seen = ", ".join(repr(v) for v in values[:3])
        if column is not None:
            raise StarterError(f"column {name!r} of {path} holds no difficulty (an integer >= 1) "
                               f"in any row (first values: {seen})")
        return {"difficulty_column": None, "difficulties": {1: n}, "unrated": 0,
                "note": f"column {name!r} ignored: no integer >= 1 in it (first values: {seen})"}
    return {"difficulty_column": name, "difficulties": dict(sorted(Counter(good).items())),
            "unrated": len(values) - len(good), "note": None}


def difficulty_line(p: dict) -> str:
    """`difficulty 1: 1,000 rows, 2: 1,000, 3: 1,000` (what `init` prints)."""
    parts = [f"{d}: {n:,}" + (" rows" if i == 0 else "") for i, (d, n) in enumerate(p["difficulties"].items())]
    line = "difficulty " + ", ".join(parts)
    if p["difficulty_column"] is None:
        line += " (no difficulty column: every problem is difficulty 1)"
    if p["unrated"]:
        line += f"; {p['unrated']:,} rows without an integer difficulty >= 1 are skipped"
    return line + (f"; {p['note']}" if p["note"] else "")


def _model_lines(m: dict) -> str:
    """bootstrap.base_model, with a comment naming where an imported folder came from."""
    imp = m["imported"]
    if imp.kind == "gguf":
        origin = f"  # imported from {imp.source} (sha256 {imp.sha256}): dequantized to fp32 once, into this folder\n"
    elif imp.kind == "hub":
        origin = f"  # downloaded from the Hugging Face hub: {imp.source}\n"
    elif imp.sha256:
        origin = f"  # copied from {imp.source} (sha256 {imp.sha256[:12]}) without its quantization_config (gguf)\n"
    else:
        origin = ""
    what = "your model folder" if not origin else "your model"
    return f"{origin}  base_model: {m['path']}   # {what}: evaluated as it is, never trained from scratch"


def _difficulty_lines(p: dict) -> dict:
    """The YAML lines that follow the file's difficulties: its column knob, the fixed mix, the
    evaluated difficulties and a frontier curriculum up to the largest; without a column, today's
    single difficulty 1."""
    ds = list(p["difficulties"])
    if p["difficulty_column"] is None:
        return {"knob": "", "weights": "{1: 1.0}   # the file has no difficulty column: every problem is difficulty 1",
                "eval": "[1]", "curriculum": ""}
    from synthloop.generators.curriculum import CurriculumConfig

    c = {f.name: getattr(CurriculumConfig(), f.name) for f in fields(CurriculumConfig)}
    counts = ", ".join(f"{d}: {n:,}" for d, n in p["difficulties"].items())
    return {
        "knob": f"\n      difficulty_column: {p['difficulty_column']}   # rows per difficulty: {counts}",
        "weights": "{" + ", ".join(f"{d}: 1.0" for d in ds) + "}   # an even mix; used only by curriculum policy fixed",
        "eval": "[" + ", ".join(map(str, ds)) + "]   # the file's difficulties",
        "curriculum": f"""
curriculum:                 # which difficulties each round draws (generators/curriculum.py)
  policy: frontier          # follow the held-out pass rates; `fixed` draws by generation.difficulty_weights
  band: [{c["band"][0]}, {c["band"][1]}]         # pass rate in [lo, hi): the frontier; >= hi: mastered (replayed)
  advance_at: {c["advance_at"]}           # open the next difficulty once the frontier's top reaches this
  replay_share: {c["replay_share"]}        # of each round's problems, for mastered difficulties (against forgetting)
  next_share: {c["next_share"]}           # of each round's problems, for the next difficulty once it is open
  max_difficulty: {max(ds)}         # the file's largest difficulty""",
    }


def budgets(p: dict, small: bool, gpu: bool | None = None) -> dict:
    """The round's budgets for these problems on this machine (a pretrained model of ~100M-500M
    parameters; the model's own size does not change them yet).

    Measured with SmolLM2-135M-Instruct on 2 CPU cores (README "Improve a real model"): 200
    problems x 4 samples a round kept 14-16 verified rows at 2.5% accuracy, and a fine-tune on them
    gained 7.8-9.0 points; at 17% accuracy the same 800 samples solved 51 of 200 problems and kept
    61 rows (103 right answers were near-duplicates, mostly the same reply to the same problem),
    while 800 problems x 1 sample from a model at 11% solved 124 and kept 108, so plain-number
    files get one sample per problem; 40 steps of batch 8 at lr 2e-5 (full fine-tuning) did so while a probe of
    untrained questions rose, not fell, and at least 2 epochs over the accumulated rows (`epochs: 2`:
    61, 103 and more steps from round 3 on, where 40 steps had been less than one pass) took round 4
    to 32.5% (+30.0) where 40 steps had stalled at 23.0% (its candidate rejected); lr 1e-4 instead
    overfit round 1's 13 rows (+2.5, not promoted, against +7.5 at 2e-5); a gain needs a
    held-out set of a few hundred problems to be told from noise (400: +-5 points at 50%), so the
    gate asks for a paired gain beyond noise; a fine-tune waits for 8 new kept rows (16 rows took
    SmolLM2 from 2.5% to 10.2% in one fine-tune; with the limit at 16 a round that kept 14 waited,
    and the loop lost a round: the gate, not the limit, is what stops noise being promoted).
    On a CPU the held-out set is sampled once per problem besides the greedy answer (pass@1):
    pass@k from more samples costs as much as a round's generation.
    Replies to plain-number questions get 96 new tokens: at 96, 40 of SmolLM2's 800 round-1 samples
    still hit the limit before an answer (and 138 ended without one: `no_answer`, which no limit fixes;
    benchmarks/real_model.py, 2026-12-07);
    worked solutions (answers like GSM8K's) need 320. The GPU budgets (5x the problems, 200 steps, pass@4)
    are not measured: no GPU was lent when they were written.
    """
    import torch

    gpu = torch.cuda.is_available() if gpu is None else gpu
    held = max(1, int(p["rows"] * 0.2))  # heldout_fraction 0.2 below
    common = {"tokens": 320 if p["checker"] == "pattern" else 96, "held": held, "batch": 64, "tbatch": 8,
              "lr": 2.0e-5, "min_rows": 8, "per_problem": 2, "epochs": 2}
    if small:  # a first try in a few minutes: still enough rows and problems to mean something
        b = common | {"rounds": 2, "samples": 256, "k": 4, "steps": 20, "n_eval": min(100, held), "n_samples": 2,
                      "eval_k": 2}
    else:
        b = common | {"rounds": 3, "samples": 4000 if gpu else 800, "k": 4, "steps": 200 if gpu else 40,
                      "n_eval": min(400, held), "n_samples": 4 if gpu else 1, "eval_k": 4 if gpu else 1}
    if p["checker"] == "numeric":
        # A plain-number reply has one right form: a second sample of a problem the model solves
        # is mostly the same text again (dropped as a near-duplicate), so the round's samples go
        # to as many problems as the file's training rows hold, one each where they suffice.
        b["k"] = -(-b["samples"] // max(1, p["rows"] - held))  # ceil: a round draws no row twice
    return b | {"ppr": b["samples"] // b["k"]}


def starter_text(m: dict, p: dict, problems: Path, name: str, small: bool) -> str:
    """The starter YAML for the model and problems `inspect_model` and `inspect_problems` saw,
    with a comment on every choice."""
    d = _difficulty_lines(p)
    b = budgets(p, small)
    # plain-number answers: a reply's written equations (`47 + 35 = 82`) must hold too, so a right
    # number reached through a false equation (`14 - 15 = 1`) is not trained on
    eq = "\n      equations: true       # written equations in a reply must be true, not only its last number" \
        if p["checker"] == "numeric" else ""
    checker = ('checker: pattern        # answers end in "#### 42" (GSM8K): the number after #### is the reference\n'
               '      pattern: "####"' if p["checker"] == "pattern" else
               "checker: numeric        # the answer column holds the number; exact | numeric | pattern | math")
    template = ("your tokenizer has a chat template: auto uses it (generation, evaluation and fine-tuning alike)"
                if m["chat_template"] else "your tokenizer has no chat template: auto sends prompts as they are")
    return f"""\
# synthloop starter config, written by `synthloop init` on {date.today()}.
# Your model answers your problems; the answers the checker verifies (and that are not
# near-duplicates) become a dataset version; the model is fine-tuned on them and kept only if its
# held-out accuracy does not drop. `synthloop run -c THIS_FILE` runs it; `--show-config` prints
# every key with its value. Budgets below are {"small: a first try in minutes" if small else
"sized for this machine and a model of about 100M-500M parameters; `init --small` writes a shorter try"}.
name: {name}                 # names the run, its dataset versions ({name}@N, {name}-train@N) and models
rounds: {b["rounds"]}                      # rounds after round 0 (round 0 only evaluates your model)
domains:
  - name: file
    knobs:
      path: {problems}
      prompt_column: {p["prompt_column"]}     # {p["rows"]} rows read
      answer_column: answer
      {checker}
      heldout_fraction: 0.2   # prompts kept out of training: the held-out evaluation uses only these{d["knob"]}{eq}
bootstrap:
{_model_lines(m)}
generation:
  prompt_format: auto       # {template}
  problems_per_round: {b["ppr"]}
  samples_per_problem: {b["k"]}{"          # plain-number replies: more problems, not more copies of one reply" if b["k"] == 1 else ""}
  batch_size: {b["batch"]}
  difficulty_weights: {d["weights"]}
  samplers:                 # decoding settings, each with a share of the samples
    - {{name: cool, temperature: 0.6, max_new_tokens: {b["tokens"]}}}
    - {{name: warm, temperature: 0.9, top_p: 0.95, max_new_tokens: {b["tokens"]}}}
  # backend auto: vLLM for a model this size where it is installed (`make vllm`), else transformers
finetune:
  policy: accumulate        # train on every kept row so far; `synthloop pull {name}-train@N` gives them
  seed_replay: 0            # (replays the built-in model's seed set; your model has none)
  max_per_problem: {b["per_problem"]}        # verified answers per problem at most: many problems, not many copies
  min_rows: {b["min_rows"]}              # fewer new kept rows than this wait for the next round (status: waiting)
  # full fine-tuning at a pretrained model's rate (2e-5). LoRA (lora_r: 16, lr 2e-4) was 1.2-1.5x
  # faster a step on SmolLM2 but ended 5 rounds at +21 points against +33 (README)
  train: {{steps: {b["steps"]}, lr: {b["lr"]:.1e}, warmup: 2, batch_size: {b["tbatch"]}}}
  epochs: {b["epochs"]}                 # at least 2 passes over the kept rows: steps grow past {b["steps"]} as they accumulate
eval:
  n_problems: {b["n_eval"]}            # held-out problems per evaluation (of {b["held"]} held out)
  difficulties: {d["eval"]}
  k: {b["eval_k"]}                      # pass@k from n_samples samples per problem
  n_samples: {b["n_samples"]}
  max_new_tokens: {b["tokens"]}
# promote only a gain beyond noise: the paired 95% interval of the held-out gain must lie above 0
gate: {{max_accuracy_drop: 0.02, max_pass_at_k_drop: 0.05, require_gain: true}}{d["curriculum"]}
{"diversity: {embeddings: false}   # MiniLM embedding scores (Vendi) cost ~10 s a round on a CPU; true turns them on" if small else "diversity: {embeddings: true}    # Vendi and embedding distance of the kept answers (MiniLM, bundled)"}
"""


def write_starter(out: Path, model: str | Path, problems: Path, name: str, small: bool, force: bool = False,
                  home: Path | None = None, difficulty_column: str | None = None,
                  tell: Callable[[str], None] | None = None) -> Starter:
    """Write the starter config to `out` (refusing to overwrite unless `force`). The problems are
    read first (cheap), then the model is resolved, which may import it into `home` (slow, once)."""
    if out.exists() and not force:
        raise StarterError(f"{out} exists; pass --force to overwrite it, or --out another file")
    problems = Path(problems).resolve()
    p = inspect_problems(problems, difficulty_column)
    m = inspect_model(model, home, tell)
    text = starter_text(m, p, problems, name, small)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text)
    try:
        load_config(tmp, {})  # what init writes, run must accept
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return Starter(text, m, p)
