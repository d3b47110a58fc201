"""A user's own problems from a local JSONL or Parquet file, checked by a chosen answer checker.

Each row needs a prompt and an answer (column names are options; `prompt_column` defaults to the
first of prompt/question/problem the file has). The answer cell may be a bare answer (`42`) or a
worked solution that ends in the checker's marker (GSM8K's `... #### 42`): then the marker's
answer is the reference and the whole cell is the worked solution for the seed set. Bad rows
(missing columns, empty prompts, answers the checker cannot read) are skipped and reported with
their row numbers (1-based: the line of a JSONL file, the row of a Parquet file).

The rows are split once, by a stable hash of each prompt, into a training split (`make_problems`
draws only from it: seed set and rounds) and a held-out split (`heldout_problems`, what the loop
evaluates on), `heldout_fraction` of the prompts; a prompt is in one split only, in every run.

Where a completion carries calculator annotations (`<<48/2=24>>`), every one is checked too:
the verdict's step fields then say which is the first wrong one and whether it is `static` or
`dynamic` (see `checkers.classify_annotations`).

>>> import json, tempfile
>>> path = tempfile.mktemp(suffix=".jsonl")
>>> rows = [{"question": "2+2?", "answer": "2+2=<<2+2=4>>4\\n#### 4"}, {"question": "3+3?", "answer": "6"}]
>>> with open(path, "w") as f:
...     _ = f.write("".join(json.dumps(r) + "\\n" for r in rows))
>>> d = FileDomain(path, checker="pattern", pattern="####")
>>> p = d.make_problems(1, seed=0, difficulties=[1])[0]
>>> p.prompt, p.answer
('2+2?', '4')
>>> [q.prompt for q in d.heldout_problems(5, seed=0, difficulties=[1])]
['3+3?']
>>> d.verify(p, "2+2=<<2+2=5>>5\\n#### 4").error_kind
'static'
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
from pathlib import Path

from .base import Problem, Verdict
from .checkers import Checker, classify_annotations

log = logging.getLogger("synthloop.domains.file")
PROMPT_COLUMNS = ("prompt", "question", "problem")


def read_table(path: str) -> tuple[list[str], list[tuple[int, dict | None, str | None]]]:
    """(column names, [(row number, row or None, why it is unreadable)]) of a JSONL or Parquet file."""
    p = Path(path)
    if p.suffix in (".jsonl", ".json", ".ndjson"):
        rows, cols = [], {}
        with p.open(encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    rows.append((i, None, f"not valid JSON ({e.msg})"))
                    continue
                if not isinstance(row, dict):
                    rows.append((i, None, "not a JSON object"))
                    continue
                cols.update(dict.fromkeys(row))
                rows.append((i, row, None))
        return list(cols), rows
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p)  # rows in file order
        except (pa.ArrowException, OSError) as e:
            raise ValueError(f"file domain: cannot read {p} as Parquet: {e}") from None
        return table.column_names, [(i, row, None) for i, row in enumerate(table.to_pylist(), 1)]
    raise ValueError(f"file domain: {p} must end in .jsonl or .parquet")


@functools.lru_cache(maxsize=8)
def _load(path, mtime, prompt_column, answer_column, solution_column, difficulty_column, checker, template):
    cols, table = read_table(path)
    if prompt_column is None:
        prompt_column = next((c for c in PROMPT_COLUMNS if c in cols), None)
        if prompt_column is None:
            raise ValueError(f"file domain: {path} has no prompt, question or problem column "
                             f"(columns: {', '.join(cols) or 'none'}); set prompt_column")
    for c in (prompt_column, answer_column, solution_column, difficulty_column):
        if c is not None and c not in cols:
            raise ValueError(f"file domain: {path} has no column {c!r} (columns: {', '.join(cols)})")
    good, bad = [], []
    for n, row, why in table:
        if row is None:
            bad.append((n, why))
            continue
        prompt, answer = row.get(prompt_column), row.get(answer_column)
        if not isinstance(prompt, str) or not prompt.strip():
            bad.append((n, f"{prompt_column} is missing or empty"))
            continue
        if answer is None or isinstance(answer, bool) or not isinstance(answer, str | int | float):
            bad.append((n, f"{answer_column} is missing or not a string or number"))
            continue
        cell = str(answer)
        ref = checker.reference(cell)
        if ref is None or not checker.parses(ref):
            bad.append((n, f"{answer_column} {cell[:40]!r} cannot be read by the {checker.kind} checker"))
            continue
        sol = row.get(solution_column) if solution_column else (cell if cell.strip() != ref else None)
        diff = row.get(difficulty_column) if difficulty_column else 1
        if not isinstance(diff, int) or isinstance(diff, bool) or diff < 1:
            bad.append((n, f"{difficulty_column} must be an integer >= 1"))
            continue
        good.append((n, template.format(prompt=prompt), ref, sol if isinstance(sol, str) else None, diff))
    if not good:
        raise ValueError(f"file domain: no usable row in {path}; first problems: "
                         + "; ".join(f"row {n}: {why}" for n, why in bad[:5]))
    if bad:
        log.warning("file domain: skipped %d of %d rows of %s: %s", len(bad), len(table), path,
                    "; ".join(f"row {n}: {why}" for n, why in bad[:10]) + (" ..." if len(bad) > 10 else ""))
    return tuple(good), tuple(bad)


class FileDomain:
    name = "file"

    def __init__(
        self,
        path: str,
        checker: str = "numeric",  # exact | numeric | pattern | math (see checkers.py)
        tolerance: float = 1e-6,  # numeric and pattern: relative tolerance on numbers
        pattern: str = "####",  # pattern: '####', 'A:', 'boxed', or a regex with one group
        time_limit: float = 5.0,  # math: seconds one check may take; past it the answer is wrong
        prompt_column: str | None = None,  # None: the first of prompt/question/problem present
        answer_column: str = "answer",
        solution_column: str | None = None,  # worked solutions for the seed set, if the file has them
        difficulty_column: str | None = None,  # integer >= 1 per row; without it every row is 1
        template: str = "{prompt}",  # how a row's prompt becomes the model's prompt
        heldout_fraction: float = 0.2,  # share of the prompts kept out of training, for evaluation
        equations: bool = False,  # check plain-text equations (`47 + 35 = 82`) as steps too
    ):
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.isfile(self.path):
            raise ValueError(f"file domain: no such file: {path}")
        if not isinstance(template, str) or "{prompt}" not in template:
            raise ValueError("file domain: template must contain {prompt}")
        try:
            template.format(prompt="")
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise ValueError(f"file domain: template {template[:60]!r} cannot be filled ({type(e).__name__}: {e}); "
                             "it may name only {prompt}, and a literal brace is written {{ or }}") from None
        if isinstance(heldout_fraction, bool) or not isinstance(heldout_fraction, int | float) \
                or not 0 < heldout_fraction < 1:
            raise ValueError("file domain: heldout_fraction must be a number strictly between 0 and 1, "
                             f"got {heldout_fraction!r}")
        self.heldout_fraction = float(heldout_fraction)
        if not isinstance(equations, bool):
            raise TypeError(f"file domain: equations must be true or false, got {equations!r}")
        self.equations = equations
        self.checker = Checker(checker, tolerance=tolerance, pattern=pattern, time_limit=time_limit)
        self.columns = (prompt_column, answer_column, solution_column, difficulty_column)
        self.template = template

    def rows(self):
        """(usable rows, skipped rows as (row number, reason)); read once per file version."""
        return _load(self.path, os.path.getmtime(self.path), *self.columns, self.checker, self.template)

    @property
    def skipped(self) -> list[tuple[int, str]]:
        return list(self.rows()[1])

    def knobs(self) -> dict:
        good, bad = self.rows()
        train, held = self.split()
        return {"path": self.path, "checker": self.checker.kind, "rows": len(good), "skipped": len(bad),
                "difficulties": sorted({r[4] for r in good}), "heldout_fraction": self.heldout_fraction,
                "equations": self.equations,
                "train_rows": len(train), "heldout_rows": len(held)}

    def split(self) -> tuple[list[tuple], list[tuple]]:
        """(training rows, held-out rows): a prompt is held out when its hash falls under
        `heldout_fraction`, so its side never depends on the run, the row order or other rows.
        Only when that leaves a side empty (a handful of prompts) does the prompt nearest the
        cut cross over. Rows with the same prompt stay together."""
        good = self.rows()[0]
        score = {r[1]: _unit_hash(r[1]) for r in good}
        if len(score) < 2:
            raise ValueError(f"file domain: {self.path} has only one distinct prompt; training and "
                             "held-out evaluation need at least 2 different prompts")
        held = {p for p, h in score.items() if h < self.heldout_fraction}
        if not held:
            held = {min(score, key=score.get)}
        elif len(held) == len(score):
            held.remove(max(score, key=score.get))
        return [r for r in good if r[1] not in held], [r for r in good if r[1] in held]

    def make_problems(self, n: int, seed: int, difficulties: list[int],
                      avoid: frozenset[str] | set[str] = frozenset()) -> list[Problem]:
        """`n` problems from the training split (each row once before any row twice). Prompts in
        `avoid` (the loop passes those it already has a kept row for) come only after every other
        row of the difficulty has been drawn once."""
        return _draw(self.split()[0], n, seed, difficulties, f"file-{seed}", avoid)

    def heldout_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        """Up to `n` problems from the held-out split, each row at most once; never a training prompt."""
        held = self.split()[1]
        n = min(n, len(_pool(held, difficulties)))  # a row twice would only weigh it double
        return _draw(held, n, seed, difficulties, f"file-heldout-{seed}")

    def solution(self, problem: Problem, variant: int = 0) -> str:
        """The file's worked solution when it has one, else the answer in the checker's format."""
        if problem.meta.get("solution"):
            return problem.meta["solution"]
        marker = {"####": "#### {}", "A:": "A: {}", "boxed": "\\boxed{{{}}}"}
        if self.checker.kind == "pattern" and self.checker.pattern in marker:
            return marker[self.checker.pattern].format(problem.answer)
        return problem.answer

    def extract(self, completion: str) -> str | None:
        return self.checker.extract(completion)

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return verify_answer(self.checker, problem.answer, completion, self.equations)


def _unit_hash(prompt: str) -> float:
    """A stable number in [0, 1) for a prompt (blake2b: the same in every process and version)."""
    digest = hashlib.blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _pool(rows: list[tuple], difficulties: list[int]) -> list[tuple]:
    return [r for r in rows if r[4] in set(difficulties)] or list(rows)


def _draw(rows: list[tuple], n: int, seed: int, difficulties: list[int], prefix: str,
          avoid: frozenset[str] | set[str] = frozenset()) -> list[Problem]:
    pool = _pool(rows, difficulties)
    rng = random.Random(seed)
    order: list = []
    while len(order) < n:  # each row once before any row twice; within a pass, fresh rows first
        batch = list(pool)
        rng.shuffle(batch)
        if avoid:  # a stable sort: both groups stay in their shuffled order
            batch.sort(key=lambda r: r[1] in avoid)
        order += batch
    return [
        Problem(f"{prefix}-{i}", "file", d, prompt, ref, {"row": row, "solution": sol})
        for i, (row, prompt, ref, sol, d) in enumerate(order[:n])
    ]


def verify_answer(checker: Checker, reference: str, completion: str, equations: bool = False) -> Verdict:
    """The final answer by `checker`, and every calculator-annotated step (and, with `equations`,
    every plain-text equation such as `47 + 35 = 82`)."""
    correct, got, cut_short = checker.judge(reference, completion)
    bad, kind, n = classify_annotations(completion, correct, got, written=equations)
    if cut_short:
        kind = cut_short  # "timeout": the check ran past its limit, so the answer counts as wrong
    elif got is None:
        kind = "truncated"  # no final answer: the completion stopped (or never gave one)
    elif kind == "none" and not correct:
        kind = "wrong_answer"
    return Verdict(correct, got, bad is None, bad, kind, n)
