"""A catalog that looks like a few finished rounds, made in milliseconds (no model is trained).

The rows are seeded random samples with every column of the schema filled the way the round's
filters fill them; the round metrics come from the real `filters.diversity.score_rows`.
"""

from __future__ import annotations

import json
import random

from synthloop.filters import diversity
from synthloop.warehouse import Catalog

SAMPLERS = {"cool": {"temperature": 0.5}, "warm": {"temperature": 0.8}, "hot": {"temperature": 1.1}}


def make_rows(round: int, n_problems: int = 20, k: int = 6, seed: int = 0) -> list[dict]:
    rng = random.Random(f"{seed}-{round}")
    rows = []
    for p in range(n_problems):
        diff = 1 + p % 5
        a, b = rng.randrange(10 ** diff), rng.randrange(10 ** diff)
        prompt, answer = f"{a}+{b}=", str(a + b)
        first_kept = None
        for j in range(k):
            sampler = list(SAMPLERS)[j % 3]
            correct = rng.random() < 0.9 - 0.15 * diff + 0.1 * round
            steps_ok = correct and rng.random() < 0.9
            completion = f"steps for {prompt} #{rng.randrange(3)}\n>{answer if correct else rng.randrange(999)}"
            if rng.random() < 0.05:
                completion += " <script>alert('x')</script> é ü ✓"  # escaping and unicode must survive
            row_id = f"r{round}-p{p}-{j}"
            kept = correct and steps_ok
            reason = None if kept else ("wrong_answer" if not correct else "bad_steps")
            cluster = dup = None
            if kept:
                if first_kept is not None and rng.random() < 0.4:
                    kept, reason, cluster, dup = False, "near_duplicate", first_kept, first_kept
                else:
                    cluster = row_id
                    first_kept = first_kept or row_id
            rows.append({
                "row_id": row_id, "round": round, "problem_id": f"r{round}.p{p}", "domain": "addition",
                "difficulty": diff, "prompt": prompt, "reference": answer, "completion": completion,
                "extracted": answer if correct else None, "correct": correct, "steps_ok": steps_ok,
                "first_bad_step": None if steps_ok else 1, "error_kind": "none" if correct else "wrong_answer",
                "sampler": sampler, "sampler_settings": json.dumps(SAMPLERS[sampler]), "seed": rng.randrange(2**40),
                "model_id": f"fake-m{round - 1}", "n_tokens": len(completion), "mean_logprob": -rng.random(),
                "finish_reason": "stop", "cluster_id": cluster, "dup_of": dup, "kept": kept, "drop_reason": reason,
                "minhash": [rng.randrange(2**32) for _ in range(4)] if cluster else None, "config_hash": "cafe01",
            })
    return rows


def score_rows(rows: list[dict], previous: dict | None = None) -> dict:
    """The round's real metrics, without the embedding model (seconds to load; not what we test)."""
    if hasattr(diversity, "DiversityConfig"):
        return diversity.score_rows(rows, diversity.DiversityConfig(embeddings=False), previous=previous)
    return diversity.score_rows(rows)


def make_run(home, name: str = "fake", rounds: int = 3) -> Catalog:
    """A catalog with `rounds` published and finished rounds of run `name` (plus a bootstrap)."""
    cat = Catalog(home)
    ev = {"accuracy": 0.4, "pass_at_k": 0.5, "maj_at_k": 0.45, "distinct_correct": 1.0, "k": 2,
          "by_difficulty": {1: {"accuracy": 0.8, "n": 10}, 2: {"accuracy": 0.2, "n": 10}}}
    cat.register_model(f"{name}-m0", cat.home / "models" / f"{name}-m0", round=0, parent=None,
                       status="promoted", metrics={"eval": ev})
    cat.finish_round(name, 0, dataset_version=None, model_in=None, model_out=f"{name}-m0", promoted=True,
                     reason="bootstrap", metrics={"eval": ev})
    previous = None
    for r in range(1, rounds + 1):
        rows = make_rows(r)
        metrics = previous = score_rows(rows, previous)
        v = cat.publish(name, rows, round=r, model_id=f"{name}-m{r - 1}", config={"name": name, "seed": 0},
                        config_hash="cafe01", code_version="test", metrics=metrics)
        ev = ev | {"accuracy": ev["accuracy"] + 0.1, "pass_at_k": ev["pass_at_k"] + 0.05}
        cat.finish_round(name, r, dataset_version=v, model_in=f"{name}-m{r - 1}", model_out=f"{name}-m{r}",
                         promoted=True, reason="no regression", metrics={"eval": ev, "data": metrics})
    return cat
