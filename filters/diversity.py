"""Diversity and quality scores for a set of rows, and the collapse alerts between rounds (`Alert`).

Diversity is measured on the kept completions (the data the next model trains on):
- distinct-1/2/3: distinct n-grams over all n-grams of word/punctuation tokens;
- compression ratio: raw bytes / gzip bytes of the texts joined (higher = more repetitive);
- distinct correct solutions per problem, after replacing every number by one symbol;
- mean pairwise cosine distance and the Vendi score of sentence embeddings (all-MiniLM-L6-v2) of a
  seeded uniform subsample of `embed_sample` texts; Vendi in its dual (d x d) form (`filters/embed.py`);
- the share of kept rows whose completion was also kept for another problem of the same stratum.

The same scores are kept per stratum (domain x difficulty, `RoundMetrics.by_stratum`), the n-gram
and embedding ones at fixed sample sizes: the collapse and trend alerts (`filters/alerts.py`)
compare rounds within strata, so that a new difficulty mix is not read as a collapse.
"""

from __future__ import annotations

import gzip
import random
import re
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .alerts import LOWER_IS_DIVERSE, Alert, collapse_alerts, diversity_notes, trend_alerts

__all__ = ["LOWER_IS_DIVERSE", "Alert", "DiversityConfig", "RoundMetrics", "RoundScorer", "collapse_alerts",
           "diversity_notes", "score_rows", "score_table", "trend_alerts"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"\d+")



@dataclass
class DiversityConfig:
    # Texts embedded per round (seeded uniform subsample of the kept rows). MiniLM-L6 on 2 CPU cores
    # embeds ~50-150 short texts/s, so 256 costs a few seconds a round. Vendi grows with the sample
    # size, so rounds are comparable only at the same size: keep this fixed across a run.
    embed_sample: int = 256
    embeddings: bool = True  # False: only the n-gram and compression scores (no model is loaded)
    # Alert when a watched score moves against diversity by more than this fraction vs the last round,
    # within strata (domain x difficulty) averaged with the kept rows of both rounds as weights.
    collapse_drop: float = 0.2
    watch: tuple[str, ...] = ("distinct_2", "vendi", "distinct_correct_per_problem")
    seed: int = 0  # of the embedding subsample and of each stratum's sample
    # A steady decline is an alert too, though no single step is near collapse_drop: the watched
    # score moved against diversity, within strata, by more than `trend_step` in each of the last
    # `trend_rounds` rounds and by more than `trend_drop` in all (Vendi 6.59 -> 6.45 -> 6.27 is
    # -2.1%, -2.8%: -4.9% over 3 rounds). A step under trend_step is a flat round, not a decline
    # (`make demo`'s distinct correct solutions per problem, ~1 in a format with one solution,
    # went -3.7% then -0.1%).
    trend_rounds: int = 3
    trend_drop: float = 0.03
    trend_step: float = 0.01
    # A stratum is compared only when it kept this many rows in both rounds: 6 rows against 1 say
    # nothing (distinct-2 of one short reply is 1). Its n-gram scores are taken on seeded samples of
    # min_rows * 2**k rows up to `stratum_sample`, so both rounds are read at the same size.
    min_rows: int = 16
    stratum_sample: int = 256  # texts kept per stratum for its n-gram scores (a reservoir)
    # The primary collapse signal: alert when the share of kept rows repeating a completion kept for
    # another problem of their stratum rose by more than this (0.2 = 20 points) and the 95% interval
    # of the rise is above 0. A model that stops reading the problem repeats itself across problems.
    shared_rise: float = 0.2
    # A stratum whose replies got more than this many times shorter (mean tokens of kept rows) is left
    # out of the score comparisons: chatty -> terse (`12 + 30 = 42`) lowers distinct-n and Vendi
    # without a collapse. The log notes it, and the shared-completion check still covers the stratum.
    length_ratio: float = 2.0

    def __post_init__(self):
        if self.embed_sample < 2:
            raise ValueError(f"diversity.embed_sample must be at least 2, got {self.embed_sample}")
        if not 0.0 < self.collapse_drop < 1.0:
            raise ValueError(f"diversity.collapse_drop must be in (0, 1), got {self.collapse_drop}")
        if self.trend_rounds < 2 or not 0.0 <= self.trend_drop < 1.0 or not 0.0 <= self.trend_step < 1.0:
            raise ValueError("diversity.trend_rounds must be at least 2, trend_drop and trend_step in [0, 1)")
        if self.min_rows < 2 or self.stratum_sample < self.min_rows:
            raise ValueError(f"diversity.min_rows must be at least 2 and stratum_sample at least min_rows, got "
                             f"{self.min_rows} and {self.stratum_sample}")
        if not 0.0 < self.shared_rise < 1.0 or self.length_ratio < 1.0:
            raise ValueError(f"diversity.shared_rise must be in (0, 1) and length_ratio at least 1, got "
                             f"{self.shared_rise} and {self.length_ratio}")

    @property
    def sizes(self) -> list[int]:
        """The sample sizes a stratum's n-gram and embedding scores are recorded at.

        >>> DiversityConfig().sizes
        [16, 32, 64, 128, 256]
        """
        return [self.min_rows * 2**k for k in range(64) if self.min_rows * 2**k <= self.stratum_sample]


def distinct_ngrams(texts: list[str], ns: tuple[int, ...] = (1, 2, 3)) -> dict[int, float]:
    """distinct-n for each n in `ns`: distinct n-grams over all n-grams of word/punctuation tokens
    (Li et al. 2016), n-grams never crossing a text boundary. Tokenises once; n-grams are counted
    as integer keys in numpy, not as Python tuples.

    >>> distinct_ngrams(["a b a b", "a b a b"], (1, 2))
    {1: 0.25, 2: 0.3333333333333333}
    """
    vocab: dict[str, int] = {}
    ids, ends = [], []
    for t in texts:
        ids += [vocab.setdefault(tok, len(vocab)) for tok in _TOKEN.findall(t)]
        ends.append(len(ids))
    tok = np.asarray(ids, np.int64)
    text_of = np.repeat(np.arange(len(ends)), np.diff(np.asarray([0] + ends)))  # text index per token
    base = max(len(vocab), 1)
    out = {}
    for n in ns:
        if len(tok) < n or base ** n >= 2**63:  # (2**63)**(1/3): 2M distinct tokens for n=3
            out[n] = distinct_n_slow(texts, n) if len(tok) >= n else 0.0
            continue
        m = len(tok) - n + 1
        keys = tok[:m].copy()
        for k in range(1, n):
            keys = keys * base + tok[k : k + m]
        inside = text_of[:m] == text_of[n - 1 :]  # the n-gram starts and ends in the same text
        total = int(inside.sum())
        out[n] = len(np.unique(keys[inside])) / total if total else 0.0
    return out


def distinct_n(texts: list[str], n: int) -> float:
    """distinct-n of `texts` (see `distinct_ngrams`).

    >>> distinct_n(["a b a b", "a b a b"], 2)
    0.3333333333333333
    >>> distinct_n([], 2)
    0.0
    """
    return distinct_ngrams(texts, (n,))[n]


def distinct_n_slow(texts: list[str], n: int) -> float:
    """The same as `distinct_n`, over Python tuples (for vocabularies too large for integer keys)."""
    total, seen = 0, set()
    for t in texts:
        toks = _TOKEN.findall(t)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def compression_ratio(texts: list[str]) -> float:
    """Raw size / gzip size of the texts joined by newlines: 1 is incompressible, higher is redundant.

    >>> compression_ratio(["abc abc abc"] * 100) > 10 * compression_ratio(["q7x", "zk2", "m1w"])
    True
    """
    raw = "\n".join(texts).encode("utf-8", "surrogatepass")
    return len(raw) / len(gzip.compress(raw, mtime=0)) if raw else 0.0


def distinct_solutions_per_problem(rows: list[dict], normalise_numbers: bool = False) -> float:
    """Mean number of distinct correct completions per problem that has at least one."""
    by_problem: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["correct"]:
            text = _NUMBER.sub("N", r["completion"]) if normalise_numbers else r["completion"]
            by_problem[r["problem_id"]].add(text.strip())
    return sum(map(len, by_problem.values())) / len(by_problem) if by_problem else 0.0


def embedding_scores(texts: list[str], cfg: DiversityConfig) -> dict:
    """Vendi score and mean pairwise distance over a seeded subsample of `texts`."""
    from .embed import embed, mean_pairwise_distance, vendi_score

    sample = texts if len(texts) <= cfg.embed_sample else random.Random(cfg.seed).sample(texts, cfg.embed_sample)
    x = embed(sample)
    return {
        "vendi": vendi_score(x) if len(sample) else None,
        "mean_embedding_distance": mean_pairwise_distance(x),
        "embedding_sample": len(sample),
    }


def diversity_scores(texts: list[str], cfg: DiversityConfig | None = None) -> dict:
    """distinct-1/2/3, compression ratio and (unless disabled) the embedding scores of `texts`."""
    cfg = cfg or DiversityConfig()
    out = {f"distinct_{n}": v for n, v in distinct_ngrams(texts, (1, 2, 3)).items()}
    out["compression_ratio"] = compression_ratio(texts)
    if cfg.embeddings:
        out |= embedding_scores(texts, cfg)
    return out


def score_line(round: int, m) -> str:
    """The score stage's one-line summary (a `RoundMetrics`), for the log.

    >>> from types import SimpleNamespace as M
    >>> score_line(2, M(kept=3, generated=8, problems_solved=2, problems=4, distinct_2=0.0412, vendi=None, collapse_alerts=[]))
    'round 2: scored: 3 of 8 rows kept, 2 of 4 problems solved, distinct-2 0.0412'
    """
    line = (f"round {round}: scored: {m.kept} of {m.generated} rows kept, {m.problems_solved} of {m.problems} "
            f"problems solved, distinct-2 {m.distinct_2:.3g}")
    if m.vendi is not None:
        line += f", vendi {m.vendi:.3g}"
    return line + "".join(f"; ALERT {Alert.from_dict(a).message}" for a in m.collapse_alerts)


def truncation_line(round: int, m, limits: list[int], share: float = 0.1) -> str | None:
    """What the log says when more than `share` of a round's samples hit the token limit before an
    answer (their rows are dropped as `truncated`); None when fewer did.

    >>> from types import SimpleNamespace as M
    >>> truncation_line(1, M(generated=800, drop_reasons={"truncated": 159}), [64, 64])[:65]
    'round 1: 159 of 800 samples (20%) hit the token limit (64 new tok'
    >>> truncation_line(1, M(generated=800, drop_reasons={"truncated": 80}), [64]) is None
    True
    """
    cut = m.drop_reasons.get("truncated", 0)
    if cut <= share * max(m.generated, 1):
        return None
    return (f"round {round}: {cut} of {m.generated} samples ({100 * cut / m.generated:.0f}%) hit the token limit "
            f"({'/'.join(map(str, sorted(set(limits))))} new tokens) before an answer and were dropped: raise the "
            "samplers' max_new_tokens if answers need more room")


@dataclass
class RoundMetrics:
    """A round's data metrics: the one place their names are written (the catalog stores `to_dict`)."""

    generated: int
    correct: int
    kept: int
    tokens: int
    problems: int
    problems_solved: int
    drop_reasons: dict[str, int]
    by_sampler: dict[str, dict]  # name -> n, correct, kept, tokens, pass_rate, kept_per_1k_tokens
    by_difficulty: dict[int, dict]  # difficulty -> n, pass_rate
    distinct_1: float
    distinct_2: float
    distinct_3: float
    compression_ratio: float
    # Solutions that differ only in their numbers count once (the definition) ...
    distinct_correct_per_problem: float
    # ... and verbatim, for domains whose solution paths differ only in numbers.
    distinct_correct_per_problem_exact: float
    # Rows sampled with the answer as a hint (generators/rationalize.py), also in generated/kept:
    # kept ones are what rationalization adds to training.
    rationalized_generated: int = 0
    rationalized_kept: int = 0
    vendi: float | None = None  # the embedding scores: None when `embeddings` is off
    mean_embedding_distance: float | None = None
    embedding_sample: int | None = None
    # Kept rows whose completion (whitespace aside) was also kept for another problem of their stratum,
    # over all kept rows: the primary collapse signal (`filters/alerts.py`).
    shared_completions: float = 0.0
    # "<domain>/<difficulty>" -> kept, tokens (mean of kept rows), shared (rows), shared_top (the completion
    # kept most often among those kept for more than one problem, and its kept rows), distinct_correct_per_problem, and the n-gram and embedding scores
    # as {sample size: value} (`DiversityConfig.sizes`): what the alerts compare between rounds.
    by_stratum: dict[str, dict] = field(default_factory=dict)
    collapse_alerts: list[Alert] = field(default_factory=list)  # collapse, then trend alerts
    allocation: dict | None = None  # the generation plan's record (generators/allocate.py)
    curriculum: dict | None = None  # the round's difficulty mix and reasons (generators/curriculum.py)
    # What the rows were checked against and what it found (filters/decontam.py, loop/decontam.py).
    decontamination: dict | None = None
    audit: dict | None = None  # the verifier audit's rates with 95% intervals (loop/audit.py)
    audit_alerts: list[Alert] = field(default_factory=list)  # a rate above its limit beyond doubt
    cost: dict | None = None  # tokens, compute seconds, kept rows per 1k tokens and per minute (loop/cost.py)

    def to_dict(self) -> dict:
        """The JSON the catalog keeps; the embedding keys only when they were measured."""
        out = asdict(self)
        out["collapse_alerts"] = [Alert.from_dict(a).to_dict() for a in self.collapse_alerts]
        out["audit_alerts"] = [Alert.from_dict(a).to_dict() for a in self.audit_alerts]
        if not self.embedding_sample:
            for key in ("vendi", "mean_embedding_distance", "embedding_sample"):
                out.pop(key)
        for key in ("allocation", "curriculum", "decontamination", "audit", "cost"):
            if out[key] is None:
                out.pop(key)
        return out


# Tokens past this many distinct ones get 64-bit hashed n-gram keys instead of exact ones
# (3 ids of 21 bits fill an int64); collisions then have odds ~1e-7 per million distinct n-grams.
_ID_BITS = 21
_SENTINEL = "\uE000"  # joins texts: a token of its own, so n-grams across texts can be masked out


def stratum_name(domain: str | None, difficulty: int | None) -> str:
    """A stratum's name: 'addition/2' ('?' for a missing part)."""
    return f"{domain or '?'}/{'?' if difficulty is None else difficulty}"


class StrataScorer:
    """The per-stratum part of `RoundScorer`: kept rows and tokens, completions kept for more than one
    problem, and a seeded reservoir of `stratum_sample` kept texts (the same whatever the shards)."""

    def __init__(self, cfg: DiversityConfig):
        self.cfg = cfg
        self.kept: dict[str, int] = defaultdict(int)
        self.tokens: dict[str, int] = defaultdict(int)
        # stratum -> hash of a normalised completion -> [hash of its first problem, kept rows, the text
        # once a second problem has it]: a few ints per distinct completion, the text only where shared
        self.seen: dict[str, dict[int, list]] = defaultdict(dict)
        self.sample: dict[str, list[str]] = defaultdict(list)
        self.rng: dict[str, random.Random] = {}
        self.of_kept: list[str] = []  # each kept row's stratum, in shard order (for the embedding subsample)
        self.of_problem: dict[str, str] = {}

    def add(self, strata: list[str], pids: list[str], texts: list[str], n_tokens: list[int | None]) -> None:
        """The kept rows of a shard, in order."""
        k = self.cfg.stratum_sample
        for s, pid, text, n in zip(strata, pids, texts, n_tokens):
            i = self.kept[s]
            self.kept[s] += 1
            self.tokens[s] += n or 0
            key = " ".join(text.split())
            entry = self.seen[s].setdefault(hash(key), [hash(pid), 0, None])
            entry[1] += 1
            if entry[2] is None and entry[0] != hash(pid):
                entry[2] = key
            if i < k:  # reservoir sampling (Algorithm R), one generator per stratum
                self.sample[s].append(text)
            elif (j := self._rng(s).randrange(i + 1)) < k:
                self.sample[s][j] = text
        if self.cfg.embeddings:
            self.of_kept += strata

    def _rng(self, s: str) -> random.Random:
        if s not in self.rng:
            self.rng[s] = random.Random(f"{self.cfg.seed}/{s}")
        return self.rng[s]

    def finish(self, solutions: set[tuple[str, str]], embedded: tuple[list[int], np.ndarray] | None) -> dict:
        """`RoundMetrics.by_stratum`. `solutions` are the (problem, normalised solution) pairs of the
        correct rows; `embedded` the kept positions of the embedding subsample and their vectors."""
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # solutions, problems
        for p in {p for p, _ in solutions}:
            per[self.of_problem.get(p, "?/?")][1] += 1
        for p, _ in solutions:
            per[self.of_problem.get(p, "?/?")][0] += 1
        vectors: dict[str, list[np.ndarray]] = defaultdict(list)
        for i, x in zip(*embedded) if embedded else ():
            vectors[self.of_kept[i]].append(x)
        out = {}
        for s in sorted(self.kept):
            texts = list(self.sample[s])
            random.Random(f"{self.cfg.seed}/{s}/order").shuffle(texts)  # prefixes are uniform subsamples
            sizes = [n for n in self.cfg.sizes if n <= len(texts)]
            grams = {n: distinct_ngrams(texts[:n], (1, 2, 3)) for n in sizes}
            multi = {e[2]: e[1] for e in self.seen[s].values() if e[2] is not None}  # text -> kept rows
            top = max(multi, key=lambda t: (multi[t], t), default=None)
            solved, problems = per.get(s, (0, 0))
            out[s] = {
                "kept": self.kept[s], "tokens": self.tokens[s] / self.kept[s],
                "shared": sum(multi.values()),
                "shared_top": {"completion": top[:80], "rows": multi[top]} if top is not None else None,
                "distinct_correct_per_problem": solved / problems if problems else None,
                **{f"distinct_{k}": {str(n): grams[n][k] for n in sizes} for k in (1, 2, 3)},
                "compression_ratio": {str(n): compression_ratio(texts[:n]) for n in sizes},
            }
            if embedded:
                from .embed import mean_pairwise_distance, vendi_score

                x = vectors.get(s, [])
                random.Random(f"{self.cfg.seed}/{s}/embed").shuffle(x)
                at = [n for n in self.cfg.sizes if n <= len(x)]
                out[s]["vendi"] = {str(n): vendi_score(np.stack(x[:n])) for n in at}
                out[s]["mean_embedding_distance"] = {str(n): mean_pairwise_distance(np.stack(x[:n])) for n in at}
        return out


class RoundScorer:
    """`score_rows` one shard at a time: memory grows with distinct n-grams, solutions and kept
    completions (`StrataScorer` finds those repeated across problems), not with all rows.

    `add` each shard (an Arrow table with the warehouse's columns), then `finish`. The numbers are
    the ones `score_rows` gives on all the rows at once.
    """

    def __init__(self, cfg: DiversityConfig | None = None):
        self.cfg = cfg or DiversityConfig()
        self.n = self.correct = self.kept = self.tokens = 0
        self.rationalized_generated = self.rationalized_kept = 0
        self.problems: set[str] = set()
        self.solved: set[str] = set()
        self.by_sampler: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, correct, kept, tokens
        self.by_diff: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.drops: dict[str, int] = defaultdict(int)
        self.vocab: dict[str, int] = {_SENTINEL: 0}
        self.grams = {n: np.zeros(0, np.int64) for n in (1, 2, 3)}  # distinct n-gram keys so far
        self.total = {n: 0 for n in (1, 2, 3)}
        self.pending: dict[int, list[np.ndarray]] = {n: [] for n in (1, 2, 3)}  # shards' keys, not yet merged
        self.pending_size = {n: 0 for n in (1, 2, 3)}
        self.gz = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip.compress(raw, mtime=0), streamed
        self.raw_bytes = self.gz_bytes = self.texts = 0
        self.solutions: set[tuple[str, str]] = set()
        self.solutions_exact: set[tuple[str, str]] = set()
        self.strata = StrataScorer(self.cfg)

    def add(self, table: pa.Table) -> None:
        t = table.select(["problem_id", "sampler", "difficulty", "correct", "kept", "n_tokens",
                          "drop_reason", "completion"])
        correct = pc.fill_null(t["correct"], False)
        kept = pc.fill_null(t["kept"], False)
        self.n += t.num_rows
        self.correct += pc.sum(correct).as_py() or 0
        self.kept += pc.sum(kept).as_py() or 0
        self.tokens += pc.sum(t["n_tokens"]).as_py() or 0
        self._count_rationalized(table, kept)
        self.problems.update(pc.unique(t["problem_id"]).to_pylist())
        self.solved.update(pc.unique(t["problem_id"].filter(correct)).to_pylist())
        flags = t.select(["sampler", "difficulty", "n_tokens", "drop_reason"]).append_column(
            "c", pc.cast(correct, pa.int64())).append_column("k", pc.cast(kept, pa.int64()))
        for r in flags.group_by("sampler").aggregate([("c", "count"), ("c", "sum"), ("k", "sum"), ("n_tokens", "sum")]).to_pylist():
            s = self.by_sampler[r["sampler"]]
            for i, key in enumerate(("c_count", "c_sum", "k_sum", "n_tokens_sum")):
                s[i] += r[key] or 0
        for r in flags.group_by("difficulty").aggregate([("c", "count"), ("c", "sum")]).to_pylist():
            d = self.by_diff[r["difficulty"]]
            d[0] += r["c_count"]
            d[1] += r["c_sum"] or 0
        for r in flags.filter(pc.is_valid(flags["drop_reason"])).group_by("drop_reason").aggregate([("c", "count")]).to_pylist():
            if r["drop_reason"]:
                self.drops[r["drop_reason"]] += r["c_count"]
        texts = t["completion"].filter(kept).to_pylist()
        self._ngrams(texts)
        self._compress(texts)
        domain = table["domain"] if "domain" in table.column_names else pa.nulls(t.num_rows, pa.string())
        names: dict[tuple, str] = {}  # one string per stratum, not per row
        strata = [names.get((d, k)) or names.setdefault((d, k), stratum_name(d, k))
                  for d, k in zip(domain.to_pylist(), t["difficulty"].to_pylist())]
        flags = kept.to_pylist()
        self.strata.add([s for s, f in zip(strata, flags) if f], t["problem_id"].filter(kept).to_pylist(), texts,
                        t["n_tokens"].filter(kept).to_pylist())
        right = t.filter(correct)
        pids = right["problem_id"].to_pylist()
        self.strata.of_problem.update((p, s) for p, s, c in zip(t["problem_id"].to_pylist(), strata, correct.to_pylist()) if c)
        exact = pc.utf8_trim_whitespace(right["completion"])
        self.solutions_exact.update(zip(pids, exact.to_pylist()))
        normal = pc.utf8_trim_whitespace(pc.replace_substring_regex(right["completion"], r"\d+", "N"))
        self.solutions.update(zip(pids, normal.to_pylist()))

    def _count_rationalized(self, table: pa.Table, kept: pa.Array) -> None:
        """Hinted rows and the kept ones among them, apart (tables from before the column have none)."""
        if "rationalized" not in table.column_names:
            return
        hinted = pc.fill_null(table["rationalized"], False)
        self.rationalized_generated += pc.sum(hinted).as_py() or 0
        self.rationalized_kept += pc.sum(pc.and_(hinted, kept)).as_py() or 0

    def _ngrams(self, texts: list[str]) -> None:
        if not texts:
            return
        if any(_SENTINEL in x for x in texts):  # a private-use character: rare, swapped for its neighbour
            texts = [x.replace(_SENTINEL, "\uE001") for x in texts]
        toks = _TOKEN.findall(_SENTINEL.join(texts) + _SENTINEL)
        local = pa.array(toks, pa.string()).dictionary_encode()
        ids = np.asarray([self.vocab.setdefault(tok, len(self.vocab)) for tok in local.dictionary.to_pylist()], np.int64)
        tok = ids[local.indices.to_numpy()]
        ends = np.flatnonzero(tok == 0)  # one sentinel after each text
        exact = len(self.vocab) < 2 ** _ID_BITS
        for n in (1, 2, 3):
            m = len(tok) - n + 1
            if m <= 0:
                continue
            keys = tok[:m].copy()
            for k in range(1, n):
                keys = (keys << _ID_BITS) + tok[k : k + m] if exact else _mix(keys, tok[k : k + m])
            # An n-gram is inside a text when no sentinel falls in its n positions.
            before = np.searchsorted(ends, np.arange(m), side="left")  # first sentinel at or after start
            inside = (before >= len(ends)) | (ends[np.minimum(before, len(ends) - 1)] > np.arange(m) + n - 1)
            self.total[n] += int(inside.sum())
            self.pending[n].append(np.unique(keys[inside]))
            self.pending_size[n] += len(self.pending[n][-1])
            if self.pending_size[n] > max(len(self.grams[n]), 1 << 20):  # merge: amortised O(distinct)
                self._merge(n)

    def _merge(self, n: int) -> None:
        if self.pending[n]:
            self.grams[n] = np.unique(np.concatenate([self.grams[n], *self.pending[n]]))
            self.pending[n], self.pending_size[n] = [], 0

    def _compress(self, texts: list[str]) -> None:
        if not texts:
            return
        raw = ("\n" if self.texts else "") + "\n".join(texts)
        self.texts += len(texts)
        data = raw.encode("utf-8", "surrogatepass")
        self.raw_bytes += len(data)
        self.gz_bytes += len(self.gz.compress(data))

    def finish(self, previous: dict | None = None, kept_texts=None) -> RoundMetrics:
        """The round's metrics. `kept_texts(indices)` returns the kept completions at those positions
        (in shard order): only the embedding subsample is read back, when embeddings are on."""
        cfg = self.cfg
        gz = self.gz_bytes + len(self.gz.flush()) if self.raw_bytes else 0
        for n in (1, 2, 3):
            self._merge(n)
        dist = {n: len(self.grams[n]) / self.total[n] if self.total[n] else 0.0 for n in (1, 2, 3)}
        emb: dict = {}
        embedded = None
        if cfg.embeddings:
            idx = list(range(self.kept)) if self.kept <= cfg.embed_sample else random.Random(cfg.seed).sample(range(self.kept), cfg.embed_sample)
            emb, x = _embedding_scores(kept_texts(idx) if idx else [])
            embedded = (idx, x)
        by_stratum = self.strata.finish(self.solutions, embedded)
        shared = sum(s["shared"] for s in by_stratum.values())
        per = self._per_problem
        m = RoundMetrics(
            generated=self.n, correct=self.correct, kept=self.kept, tokens=self.tokens,
            problems=len(self.problems), problems_solved=len(self.solved), drop_reasons=dict(self.drops),
            by_sampler={
                k: {"n": n, "correct": c, "kept": kp, "tokens": t, "pass_rate": c / n, "kept_per_1k_tokens": 1000 * kp / max(t, 1)}
                for k, (n, c, kp, t) in sorted(self.by_sampler.items())
            },
            by_difficulty={int(k): {"n": n, "pass_rate": c / n} for k, (n, c) in sorted(self.by_diff.items())},
            distinct_1=dist[1], distinct_2=dist[2], distinct_3=dist[3],
            compression_ratio=self.raw_bytes / gz if self.raw_bytes else 0.0,
            distinct_correct_per_problem=per(self.solutions),
            distinct_correct_per_problem_exact=per(self.solutions_exact),
            rationalized_generated=self.rationalized_generated, rationalized_kept=self.rationalized_kept,
            shared_completions=shared / self.kept if self.kept else 0.0, by_stratum=by_stratum, **emb,
        )
        m.collapse_alerts = collapse_alerts(m.to_dict(), previous, cfg) if previous else []
        return m

    def _per_problem(self, pairs: set[tuple[str, str]]) -> float:
        solved = {p for p, _ in pairs}
        return len(pairs) / len(solved) if solved else 0.0


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 64-bit hash combining n-gram keys with the next token id (splitmix64-style)."""
    with np.errstate(over="ignore"):
        z = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (b.astype(np.uint64) + np.uint64(0xBF58476D1CE4E5B9))
        z ^= z >> np.uint64(31)
        return z.astype(np.int64)


def _embedding_scores(texts: list[str]) -> tuple[dict, np.ndarray]:
    """The round's embedding scores, and the vectors (the strata's scores are read from them too)."""
    from .embed import embed, mean_pairwise_distance, vendi_score

    x = embed(texts)
    return {"vendi": vendi_score(x) if len(texts) else None, "mean_embedding_distance": mean_pairwise_distance(x),
            "embedding_sample": len(texts)}, x


def score_table(table: pa.Table, cfg: DiversityConfig | None = None, previous: dict | None = None) -> RoundMetrics:
    """`RoundScorer` over one table."""
    scorer = RoundScorer(cfg)
    scorer.add(table)
    kept = table["completion"].filter(pc.fill_null(table["kept"], False))
    return scorer.finish(previous, kept_texts=lambda idx: kept.take(pa.array(idx, pa.int64())).to_pylist())


def score_rows(rows: list[dict], cfg: DiversityConfig | None = None, previous: dict | None = None) -> dict:
    """Round metrics of row dicts (see `RoundMetrics`), as the catalog stores them.

    `previous` is the last round's metrics: when given, `collapse_alerts` lists what moved against
    diversity within strata (`filters/alerts.py`).
    """
    cols = ["problem_id", "domain", "sampler", "difficulty", "correct", "kept", "n_tokens", "drop_reason", "completion"]
    types = [pa.string(), pa.string(), pa.string(), pa.int32(), pa.bool_(), pa.bool_(), pa.int64(), pa.string(),
             pa.string()]
    table = pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in zip(cols, types)})
    return score_table(table, cfg, previous).to_dict()
