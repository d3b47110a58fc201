"""Diversity and quality scores for a set of rows, and the collapse alerts between rounds (`Alert`).

Diversity is measured on the kept completions (the data the next model trains on):
- distinct-1/2/3: distinct n-grams over all n-grams of word/punctuation tokens;
- compression ratio: raw bytes / gzip bytes of the texts joined (higher = more repetitive);
- distinct correct solutions per problem, after replacing every number by one symbol;
- mean pairwise cosine distance and the Vendi score of sentence embeddings (all-MiniLM-L6-v2) of a
  seeded uniform subsample of `embed_sample` texts; Vendi in its dual (d x d) form (`filters/embed.py`).
"""

from __future__ import annotations

import gzip
import random
import re
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"\d+")

# Scores where a lower value means more diverse: a collapse is a rise, not a fall.
LOWER_IS_DIVERSE = {"compression_ratio"}


@dataclass
class DiversityConfig:
    # Texts embedded per round (seeded uniform subsample of the kept rows). MiniLM-L6 on 2 CPU cores
    # embeds ~50-150 short texts/s, so 256 costs a few seconds a round. Vendi grows with the sample
    # size, so rounds are comparable only at the same size: keep this fixed across a run.
    embed_sample: int = 256
    embeddings: bool = True  # False: only the n-gram and compression scores (no model is loaded)
    # Alert when a watched score moves against diversity by more than this fraction vs the last round.
    collapse_drop: float = 0.2
    watch: tuple[str, ...] = ("distinct_2", "vendi", "distinct_correct_per_problem")
    seed: int = 0  # of the embedding subsample
    # A steady decline is an alert too, however small each step: the watched score moved against
    # diversity in each of the last `trend_rounds` rounds, by more than `trend_drop` in all
    # (Vendi 6.59 -> 6.45 -> 6.27 is -4.9% over 3 rounds; no single step is near collapse_drop).
    trend_rounds: int = 3
    trend_drop: float = 0.03

    def __post_init__(self):
        if self.embed_sample < 2:
            raise ValueError(f"diversity.embed_sample must be at least 2, got {self.embed_sample}")
        if not 0.0 < self.collapse_drop < 1.0:
            raise ValueError(f"diversity.collapse_drop must be in (0, 1), got {self.collapse_drop}")
        if self.trend_rounds < 2 or not 0.0 <= self.trend_drop < 1.0:
            raise ValueError("diversity.trend_rounds must be at least 2 and trend_drop in [0, 1)")


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


# The run table's short form of a legacy (untyped) alert: 'distinct_2 fell 40%'.
_SHORT = re.compile(r"\w+ (fell|rose) \d+(%| rounds in a row)")


@dataclass(frozen=True)
class Alert:
    """A diversity alert of a round: a watched score that collapsed against the last round
    (`kind` "collapse") or declined steadily over the last rounds ("trend").

    `before`/`after` are the score's values at the start and end (for a trend, its first and last
    round), `change` is the relative move `(after - before) / |before|`, `rounds` the rounds in a
    row of a trend. `message` is the log's line. The catalog keeps `to_dict()`; `from_dict` reads
    that back, and also a plain string (catalogs written before alerts were typed): kind "legacy".

    >>> a = Alert("trend", "vendi", 6.59, 6.27, -0.0486, 3, "diversity trend: vendi fell 3 rounds in a row (...)")
    >>> a.short, Alert.from_dict(a.to_dict()) == a
    ('vendi fell 3 rounds in a row', True)
    >>> old = Alert.from_dict("diversity collapse: distinct_2 fell 40% (0.5 -> 0.3), more than the 20% allowed")
    >>> old.kind, old.metric, old.short
    ('legacy', None, 'distinct_2 fell 40%')
    """

    kind: str
    metric: str | None
    before: float | None
    after: float | None
    change: float | None
    rounds: int | None
    message: str

    @property
    def short(self) -> str:
        """What the run table prints: 'distinct_2 fell 40%', 'vendi fell 3 rounds in a row' ('' if unknown)."""
        if self.kind in ("collapse", "trend") and self.metric and self.change is not None:
            verb = "rose" if self.change > 0 else "fell"
            size = f"{self.rounds} rounds in a row" if self.kind == "trend" else f"{abs(self.change):.0%}"
            return f"{self.metric} {verb} {size}"
        m = _SHORT.search(self.message)
        return m.group(0) if m else ""

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | str | Alert) -> Alert:
        """An alert as the catalog keeps it (a dict), or as it kept it before (a plain string)."""
        if isinstance(d, Alert):
            return d
        if isinstance(d, str):
            return cls("legacy", None, None, None, None, None, d)
        return cls(kind=d.get("kind") or "legacy", metric=d.get("metric"), before=d.get("before"),
                   after=d.get("after"), change=d.get("change"), rounds=d.get("rounds"),
                   message=str(d.get("message") or ""))


def trend_alerts(series: list[dict], cfg: DiversityConfig) -> list[Alert]:
    """One alert per watched score that moved against diversity in each of the last `trend_rounds`
    rounds of `series` (round metrics, oldest first, this round last), by more than `trend_drop`.

    >>> [a.message for a in trend_alerts([{"vendi": 6.59}, {"vendi": 6.45}, {"vendi": 6.27}], DiversityConfig())]
    ['diversity trend: vendi fell 3 rounds in a row (6.59 -> 6.45 -> 6.27, -4.9% in all)']
    >>> trend_alerts([{"vendi": 6.59}, {"vendi": 6.60}, {"vendi": 6.27}], DiversityConfig())
    []
    """
    out = []
    n = cfg.trend_rounds
    for key in cfg.watch:
        vals = [(m or {}).get(key) for m in series[-n:]]
        if len(vals) < n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            continue
        sign = 1 if key in LOWER_IS_DIVERSE else -1  # +1: rising is worse
        steady = all(sign * (b - a) > 0 for a, b in pairwise(vals))
        total = (vals[-1] - vals[0]) / abs(vals[0]) if vals[0] else 0.0
        if steady and sign * total > cfg.trend_drop:
            verb = "rose" if sign > 0 else "fell"
            path = " -> ".join(f"{v:.3g}" for v in vals)
            out.append(Alert("trend", key, vals[0], vals[-1], total, n,
                             f"diversity trend: {key} {verb} {n} rounds in a row ({path}, {total:+.1%} in all)"))
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


def collapse_alerts(current: dict, previous: dict | None, cfg: DiversityConfig) -> list[Alert]:
    """One alert per watched score that moved against diversity by more than `collapse_drop`.

    >>> (a,) = collapse_alerts({"distinct_2": 0.3}, {"distinct_2": 0.5}, DiversityConfig())
    >>> a.message, a.short
    ('diversity collapse: distinct_2 fell 40% (0.5 -> 0.3), more than the 20% allowed', 'distinct_2 fell 40%')
    """
    out = []
    for key in cfg.watch:
        now, before = (current or {}).get(key), (previous or {}).get(key)
        if not isinstance(now, (int, float)) or not isinstance(before, (int, float)) or before <= 0:
            continue
        change = (now - before) / before
        worse = change if key in LOWER_IS_DIVERSE else -change
        if worse > cfg.collapse_drop:
            verb = "rose" if key in LOWER_IS_DIVERSE else "fell"
            out.append(Alert("collapse", key, before, now, change, None,
                             f"diversity collapse: {key} {verb} {abs(change):.0%} ({before:.3g} -> {now:.3g}), "
                             f"more than the {cfg.collapse_drop:.0%} allowed"))
    return out


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
    collapse_alerts: list[Alert] = field(default_factory=list)  # collapse, then trend alerts
    allocation: dict | None = None  # the generation plan's record (generators/allocate.py)
    curriculum: dict | None = None  # the round's difficulty mix and reasons (generators/curriculum.py)

    def to_dict(self) -> dict:
        """The JSON the catalog keeps; the embedding keys only when they were measured."""
        out = asdict(self)
        out["collapse_alerts"] = [Alert.from_dict(a).to_dict() for a in self.collapse_alerts]
        if not self.embedding_sample:
            for key in ("vendi", "mean_embedding_distance", "embedding_sample"):
                out.pop(key)
        for key in ("allocation", "curriculum"):
            if out[key] is None:
                out.pop(key)
        return out


# Tokens past this many distinct ones get 64-bit hashed n-gram keys instead of exact ones
# (3 ids of 21 bits fill an int64); collisions then have odds ~1e-7 per million distinct n-grams.
_ID_BITS = 21
_SENTINEL = "\uE000"  # joins texts: a token of its own, so n-grams across texts can be masked out


class RoundScorer:
    """`score_rows` one shard at a time: memory grows with distinct n-grams and solutions, not rows.

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
        right = t.filter(correct)
        pids = right["problem_id"].to_pylist()
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
        if cfg.embeddings:
            idx = list(range(self.kept)) if self.kept <= cfg.embed_sample else random.Random(cfg.seed).sample(range(self.kept), cfg.embed_sample)
            emb = _embedding_scores(kept_texts(idx) if idx else [])
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
            **emb,
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


def _embedding_scores(texts: list[str]) -> dict:
    from .embed import embed, mean_pairwise_distance, vendi_score

    x = embed(texts)
    return {"vendi": vendi_score(x) if len(texts) else None, "mean_embedding_distance": mean_pairwise_distance(x),
            "embedding_sample": len(texts)}


def score_table(table: pa.Table, cfg: DiversityConfig | None = None, previous: dict | None = None) -> RoundMetrics:
    """`RoundScorer` over one table."""
    scorer = RoundScorer(cfg)
    scorer.add(table)
    kept = table["completion"].filter(pc.fill_null(table["kept"], False))
    return scorer.finish(previous, kept_texts=lambda idx: kept.take(pa.array(idx, pa.int64())).to_pylist())


def score_rows(rows: list[dict], cfg: DiversityConfig | None = None, previous: dict | None = None) -> dict:
    """Round metrics of row dicts (see `RoundMetrics`), as the catalog stores them.

    `previous` is the last round's metrics: when given, `collapse_alerts` lists the scores that fell
    by more than `cfg.collapse_drop` against it.
    """
    cols = ["problem_id", "sampler", "difficulty", "correct", "kept", "n_tokens", "drop_reason", "completion"]
    types = [pa.string(), pa.string(), pa.int32(), pa.bool_(), pa.bool_(), pa.int64(), pa.string(), pa.string()]
    table = pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in zip(cols, types)})
    return score_table(table, cfg, previous).to_dict()
