"""`synthloop init`: a commented starter config for "my model folder + my problem file".

It looks at both before writing anything: the folder must be a model (config.json; its tokenizer
tells whether there is a chat template), the file must be readable by the file domain (its prompt
column, and whether answers end in GSM8K's `#### 42`, which picks the checker). The YAML it writes
is checked with `load_config` before it is put in place, so what `init` writes `run` accepts.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from synthloop.errors import UserError

from .config import load_config


class StarterError(UserError):
    """The model folder or the problem file cannot be used as they are."""


def inspect_model(path: Path) -> dict:
    """What `init` needs to know about a model folder: does its tokenizer have a chat template?"""
    if not (path / "config.json").is_file():
        raise StarterError(f"{path} is not a model folder (no config.json): give a folder saved with save_pretrained")
    has_template = (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file()
    tok_cfg = path / "tokenizer_config.json"
    if not has_template and tok_cfg.is_file():
        try:
            has_template = bool(json.loads(tok_cfg.read_text()).get("chat_template"))
        except (OSError, ValueError):
            pass
    return {"chat_template": has_template}


def inspect_problems(path: Path) -> dict:
    """Columns, rows, and the checker that fits the answers of a JSONL/Parquet problem file."""
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
    return {"rows": len(rows), "prompt_column": prompt, "checker": "pattern" if gsm8k else "numeric"}


def starter_text(model: Path, problems: Path, name: str, small: bool) -> str:
    """The starter YAML, with a comment on every choice."""
    m, p = inspect_model(model), inspect_problems(problems)
    # `small`: a first try on a CPU in minutes; otherwise budgets for a GPU and a real model.
    b = ({"rounds": 2, "ppr": 16, "k": 2, "tokens": 48, "batch": 16, "steps": 8, "tbatch": 4, "lr": 1.0e-4,
          "n_eval": 8, "n_samples": 2, "eval_k": 2}
         if small else
         {"rounds": 3, "ppr": 256, "k": 4, "tokens": 320, "batch": 64, "steps": 200, "tbatch": 8, "lr": 1.0e-5,
          "n_eval": 200, "n_samples": 4, "eval_k": 4})
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
# every key with its value. Budgets below are {"small: a first try on a CPU in minutes" if small else
"for a GPU; `synthloop init --small` writes a CPU-sized try"}.
name: {name}                 # names the run, its dataset versions ({name}@N, {name}-train@N) and models
rounds: {b["rounds"]}                      # rounds after round 0 (round 0 only evaluates your model)
domains:
  - name: file
    knobs:
      path: {problems}
      prompt_column: {p["prompt_column"]}     # {p["rows"]} rows read
      answer_column: answer
      {checker}
      heldout_fraction: 0.2   # prompts kept out of training: the held-out evaluation uses only these
bootstrap:
  base_model: {model}   # your model folder: evaluated as it is, never trained from scratch
generation:
  prompt_format: auto       # {template}
  problems_per_round: {b["ppr"]}
  samples_per_problem: {b["k"]}
  batch_size: {b["batch"]}
  difficulty_weights: {{1: 1.0}}   # the file has no difficulty column: every problem is difficulty 1
  samplers:                 # decoding settings, each with a share of the samples
    - {{name: cool, temperature: 0.6, max_new_tokens: {b["tokens"]}}}
    - {{name: warm, temperature: 0.9, top_p: 0.95, max_new_tokens: {b["tokens"]}}}
finetune:
  policy: accumulate        # train on every kept row so far; `synthloop pull {name}-train@N` gives them
  seed_replay: 0            # (replays the built-in model's seed set; your model has none)
  train: {{steps: {b["steps"]}, lr: {b["lr"]:.1e}, warmup: 2, batch_size: {b["tbatch"]}}}   # add lora_r: 16 for LoRA
eval:
  n_problems: {b["n_eval"]}            # held-out problems per evaluation
  difficulties: [1]
  k: {b["eval_k"]}                      # pass@k from n_samples samples per problem
  n_samples: {b["n_samples"]}
  max_new_tokens: {b["tokens"]}
gate: {{max_accuracy_drop: 0.02, max_pass_at_k_drop: 0.05}}
{"diversity: {embeddings: false}   # MiniLM embedding scores (Vendi) cost ~10 s a round on a CPU; true turns them on" if small else "diversity: {embeddings: true}    # Vendi and embedding distance of the kept answers (MiniLM, bundled)"}
"""


def write_starter(out: Path, model: Path, problems: Path, name: str, small: bool, force: bool = False) -> str:
    """Write the starter config to `out` (refusing to overwrite unless `force`); returns its text."""
    if out.exists() and not force:
        raise StarterError(f"{out} exists; pass --force to overwrite it, or --out another file")
    text = starter_text(model.resolve(), problems.resolve(), name, small)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text)
    try:
        load_config(tmp, {})  # what init writes, run must accept
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return text
