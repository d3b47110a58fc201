"""Decontamination: a kept row whose problem is one the model will be evaluated on is not training data.

The index holds the texts to keep out (the run's held-out problems, and the benchmark files the
user lists), each three ways, as the field checks them:
- exact: the whole text, normalised (case, punctuation and spacing folded);
- n-grams: every `ngram` consecutive words of it (13, as GPT-3's contamination study used: a shared
  13-word run is a copied sentence, not a shared phrase); a row is hit when its prompt or its
  completion holds any of them;
- MinHash (`filters/minhash.py`): the source's character 5-gram signature; a row whose prompt
  reaches `threshold` estimated Jaccard with one (LSH bands as in near-dedup) is a rewording, e.g.
  the same question with a number changed.
Texts shorter than `ngram` words (a built-in `k78l56m40=`) are checked exactly only: one changed
digit is another problem, whatever its Jaccard. So are templated texts, where the near checks
cannot tell one item from another: the run's own held-out problems (drawn from the same family
and phrasings as the training problems, so "What is 254 + 504? End your reply with ..." shares a
13-word run and an estimated Jaccard of 0.81 with a held-out "What is 17 + 504? End your reply
with ...": a different problem; two random sums of that phrasing score 0.65 at the median, 0.86 at
most over 40,000 pairs) and any listed item that has a near-duplicate within its own file. An n-gram
found in two or more listed texts is boilerplate ("Solve step by step and put the final answer
after ####") and is not checked either.

`build_index` makes an `Index` from sources (`Source`: a label, item ids and texts), `save`/`load`
keep it as one Parquet file, and `check_table` gives each row of a shard its hit, if any.

>>> idx = build_index([Source("bench", ["q1"], ["Tom has three apples and buys two more, how many now?"])],
...                   DecontamConfig(ngram=4))
>>> [h and h.how for h in idx.check(["tom has three apples, then", "Tom has THREE apples and buys two more. How many now?",
...                                  "apples buys"])]
['ngram', 'exact', None]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from synthloop.domains.file import PROMPT_COLUMNS, read_table

from .minhash import band_keys, lsh_params, minhash_signatures
from .verify import set_column

# A run of letters and digits, or an arithmetic sign: other punctuation and spacing are folded away,
# but "12 + 5" and "12 - 5" are different problems (SmolLM2's chat sums: a difference was dropped
# as the held-out sum of the same numbers).
# A hyphen between two letters joins words ("held-out"), elsewhere it is a minus.
_WORD = re.compile(r"[^\W_]+|[+*/=×÷^%<>]|(?<![^\W\d_])-|-(?![^\W\d_])")
HELDOUT = "heldout"  # the source label of the run's own held-out problems
# Char shingles and permutations of the MinHash check: the near-dedup defaults (filters/dedup.py),
# so the signatures mean the same thing in both.
SHINGLE, NUM_PERM, SEED = 5, 128, 1


@dataclass
class DecontamConfig:
    enabled: bool = True  # off: no row is checked (nothing is dropped or reported)
    # Benchmark files (JSONL or Parquet) whose texts must never be trained on: a hit is dropped.
    files: list[str] = field(default_factory=list)
    # The files' text column; None: the first of prompt, question, problem that a file has.
    column: str | None = None
    # Words in a shared run that counts as copied: GPT-3's 13 (Brown et al. 2020, appendix C).
    ngram: int = 13
    # Estimated Jaccard (char 5-grams) at or above which a prompt is a rewording of a source text.
    # A GSM8K question with one number changed scores ~0.9, two different questions < 0.3 (tests).
    threshold: float = 0.8
    # What a row that matches the run's own held-out problems becomes. auto: dropped for a file
    # domain (its held-out split is never drawn for training, so a match is a leak), kept and
    # reported for a generated domain (there are only 100 one-digit sums: a held-out sum is often
    # also a training sum, and the evaluation scores such problems apart instead). drop | report:
    # the same for every domain.
    heldout: str = "auto"

    def __post_init__(self):
        if not isinstance(self.files, list) or not all(isinstance(f, str) and f for f in self.files):
            raise ValueError("decontaminate.files must be a list of paths to JSONL or Parquet files")
        for f in self.files:
            p = Path(f).expanduser()
            if p.suffix not in (".jsonl", ".json", ".ndjson", ".parquet"):
                raise ValueError(f"decontaminate.files: {f} must end in .jsonl or .parquet")
            if not p.is_file():
                raise ValueError(f"decontaminate.files: no such file: {f}")
        if self.column is not None and not (isinstance(self.column, str) and self.column):
            raise ValueError("decontaminate.column must be a column name (or left out)")
        for f in self.files:  # the column is there and holds text: found now, not in a round
            file_source(f, self.column)
        if not isinstance(self.ngram, int) or isinstance(self.ngram, bool) or not 3 <= self.ngram <= 100:
            raise ValueError(f"decontaminate.ngram must be an integer from 3 to 100, got {self.ngram!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"decontaminate.threshold must be in (0, 1], got {self.threshold}")
        if self.heldout not in ("auto", "drop", "report"):
            raise ValueError(f"decontaminate.heldout must be auto, drop or report, got {self.heldout!r}")


@dataclass(frozen=True)
class Source:
    """Texts to keep out of training: `label` ("heldout", or a file's name), an id per text."""

    label: str
    ids: list[str]
    texts: list[str]


@dataclass(frozen=True)
class Hit:
    """What a row matched: the source, its item, how (exact, ngram, minhash) and the item's text."""

    source: str
    item: str
    how: str
    text: str

    def tag(self) -> str:
        """The row's `contamination` value: 'gsm8k.jsonl#12 (ngram)'."""
        return f"{self.source}#{self.item} ({self.how})"


def file_source(path: str, column: str | None) -> Source:
    """A benchmark file's texts (JSONL or Parquet), labelled by the file's name, ids by row number
    (1-based, as the file domain counts them)."""
    p = os.path.abspath(os.path.expanduser(path))
    return _file_source(p, os.path.getmtime(p), column)


@lru_cache(maxsize=8)
def _file_source(path: str, mtime: float, column: str | None) -> Source:
    cols, rows = read_table(path)
    col = column or next((c for c in PROMPT_COLUMNS if c in cols), None)
    if col is None or col not in cols:
        raise ValueError(f"decontaminate: {path} has no column {column or ' / '.join(PROMPT_COLUMNS)} "
                         f"(columns: {', '.join(cols) or 'none'}); set decontaminate.column")
    got = [(n, r[col]) for n, r, _ in rows if r is not None and isinstance(r.get(col), str)]
    if not got:
        raise ValueError(f"decontaminate: {path} has no text in column {col!r}")
    return Source(Path(path).name, [str(n) for n, _ in got], [t for _, t in got])


def normalize(text: str) -> str:
    """Words only, case-folded, single-spaced.

    >>> normalize("  Janet's ducks lay 16 eggs; she EATS three!"), normalize("What is 12-5? A well-known one.")
    ('janet s ducks lay 16 eggs she eats three', 'what is 12 - 5 a well known one')
    """
    return " ".join(_WORD.findall(text.casefold()))


def _h(s: str) -> int:
    return xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass"))


def ngram_hashes(words: Sequence[str], n: int) -> list[int]:
    """64-bit hashes of every run of `n` words (none when there are fewer words)."""
    return [_h(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)]


class Index:
    """The texts to keep out, ready to check rows against (built by `build_index` or `load`)."""

    def __init__(self, table: pa.Table, cfg: DecontamConfig):
        self.table, self.cfg = table, cfg
        cols = table.to_pydict()
        self.source, self.item, self.text = cols["source"], cols["item"], cols["text"]
        self.exact = {h: i for i, h in reversed(list(enumerate(cols["exact"])))}  # first item wins
        self.ngrams: dict[int, int] = {}
        for i, hs in reversed(list(enumerate(cols["ngrams"]))):
            self.ngrams.update(dict.fromkeys(hs, i))
        has = [i for i, s in enumerate(cols["signature"]) if s is not None]
        self.sig_rows = np.array(has, np.int64)
        self.sigs = np.array([cols["signature"][i] for i in has], np.uint32).reshape(len(has), NUM_PERM)
        self.b, self.r = lsh_params(cfg.threshold, NUM_PERM, (0.1, 0.9))  # dedup's recall-weighted bands
        self.bands: dict[tuple[int, int], list[int]] = {}
        for j, keys in enumerate(band_keys(self.sigs, self.b, self.r) if len(has) else []):
            for k, key in enumerate(keys):
                self.bands.setdefault((k, int(key)), []).append(j)

    def __len__(self) -> int:
        return len(self.source)

    def _hit(self, i: int, how: str) -> Hit:
        return Hit(self.source[i], self.item[i], how, self.text[i])

    def check(self, prompts: Sequence[str], completions: Sequence[str] | None = None) -> list[Hit | None]:
        """Per row, the first source item it matches, or None: the prompt exactly, the prompt or
        the completion by a shared n-gram, then the prompt by MinHash."""
        n = self.cfg.ngram
        out: list[Hit | None] = []
        near_rows, near_texts = [], []
        for j, prompt in enumerate(prompts):
            words = normalize(prompt).split()
            hit = None
            if (i := self.exact.get(_h(" ".join(words)))) is not None:
                hit = self._hit(i, "exact")
            else:
                more = normalize(completions[j]).split() if completions is not None and completions[j] else []
                for ws in (words, more):
                    i = next((self.ngrams[h] for h in ngram_hashes(ws, n) if h in self.ngrams), None)
                    if i is not None:
                        hit = self._hit(i, "ngram")
                        break
                if hit is None and len(words) >= n and len(self.sig_rows):
                    near_rows.append(j)
                    near_texts.append(" ".join(words))
            out.append(hit)
        if near_rows:
            sigs = minhash_signatures(near_texts, NUM_PERM, SEED, SHINGLE)
            for j, sig, keys in zip(near_rows, sigs, band_keys(sigs, self.b, self.r)):
                cands = {c for k, key in enumerate(keys) for c in self.bands.get((k, int(key)), ())}
                best = max(cands, key=lambda c: (np.mean(self.sigs[c] == sig), -c), default=None)
                if best is not None and np.mean(self.sigs[best] == sig) >= self.cfg.threshold:
                    out[j] = self._hit(int(self.sig_rows[best]), "minhash")
        return out


_SCHEMA = pa.schema([("source", pa.string()), ("item", pa.string()), ("text", pa.string()),
                     ("exact", pa.uint64()), ("ngrams", pa.list_(pa.uint64())),
                     ("signature", pa.list_(pa.uint32()))])
EXAMPLE_CHARS = 300  # of each source text kept in the index: enough to show a hit in the report


def build_index(sources: Sequence[Source], cfg: DecontamConfig) -> Index:
    """An index of every text of `sources` (see the module's docstring for the three checks and
    which texts are checked exactly only)."""
    rows: dict[str, list] = {f: [] for f in _SCHEMA.names}
    long_at, long_texts = [], []
    for s in sources:
        for item, text in zip(s.ids, s.texts):
            words = normalize(text).split()
            if not words:
                continue  # an empty text would match every empty prompt
            near = s.label != HELDOUT and len(words) >= cfg.ngram
            rows["source"].append(s.label)
            rows["item"].append(str(item))
            rows["text"].append(text[:EXAMPLE_CHARS])
            rows["exact"].append(_h(" ".join(words)))
            rows["ngrams"].append(sorted(set(ngram_hashes(words, cfg.ngram))) if near else [])
            rows["signature"].append(None)
            if near:
                long_at.append(len(rows["source"]) - 1)
                long_texts.append(" ".join(words))
    rows["ngrams"] = _without_boilerplate(rows["ngrams"])
    sigs = minhash_signatures(long_texts, NUM_PERM, SEED, SHINGLE) if long_texts else np.zeros((0, NUM_PERM))
    templated = _templated(sigs, [rows["source"][i] for i in long_at], cfg.threshold)
    for i, sig, same in zip(long_at, sigs, templated):
        if not same:
            rows["signature"][i] = sig.tolist()
    return Index(pa.table(rows, schema=_SCHEMA), cfg)


def _without_boilerplate(ngrams: list[list[int]]) -> list[list[int]]:
    """Each text's n-grams less those that two or more texts share (an instruction every item
    repeats matches every row that repeats it too, whatever its problem)."""
    seen: dict[int, int] = {}
    for hs in ngrams:
        for h in hs:
            seen[h] = seen.get(h, 0) + 1
    return [[h for h in hs if seen[h] == 1] for hs in ngrams]


def _templated(sigs: np.ndarray, labels: list[str], threshold: float) -> list[bool]:
    """Per signature, whether another text of the same source is a near-duplicate of it (estimated
    Jaccard >= threshold): such items differ in a few characters (numbers, names), which MinHash
    cannot see, so a rewording check would hit every item of the template.

    >>> s = minhash_signatures(["what is 254 plus 504 end your reply with the number alone",
    ...                         "what is 17 plus 504 end your reply with the number alone",
    ...                         "janet s ducks lay 16 eggs per day she eats three for breakfast"], NUM_PERM, SEED, SHINGLE)
    >>> _templated(s, ["f", "f", "f"], 0.6), _templated(s, ["f", "g", "f"], 0.6)
    ([True, True, False], [False, False, False])
    """
    out = [False] * len(sigs)
    if len(sigs) < 2:
        return out
    b, r = lsh_params(threshold, NUM_PERM, (0.1, 0.9))
    buckets: dict[tuple[int, int], list[int]] = {}
    for j, keys in enumerate(band_keys(sigs, b, r)):
        for k, key in enumerate(keys):
            buckets.setdefault((k, int(key)), []).append(j)
    for members in buckets.values():
        for j in members:
            if out[j]:
                continue
            for c in members:  # the first near-duplicate found ends the search: linear in a big bucket
                if c != j and labels[c] == labels[j] and np.mean(sigs[c] == sigs[j]) >= threshold:
                    out[j] = out[c] = True
                    break
    return out


def save(index: Index, path: Path, meta: dict) -> None:
    """The index as one Parquet file, `meta` (what it was built from) in its schema metadata;
    written to a temporary name first, so a reader never sees half an index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = index.table.replace_schema_metadata({"synthloop.decontam": json.dumps(meta, sort_keys=True)})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


@lru_cache(maxsize=4)
def load(path: str, cfg_json: str) -> Index:
    """The index stored at `path` (read once per process and config)."""
    return Index(pq.read_table(path), DecontamConfig(**json.loads(cfg_json)))


def stored_meta(path: str | Path) -> dict:
    """What a stored index was built from (`save`'s `meta`)."""
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(b"synthloop.decontam", b"{}"))


@dataclass
class DecontamCounts:
    """What decontamination found in one or more shards (they add up)."""

    checked: int = 0  # rows still kept after the verifier, checked
    dropped: int = 0  # dropped as `contaminated`
    heldout_overlap: int = 0  # kept rows matching a held-out problem, reported and kept (`heldout: report`)
    by_source: dict[str, int] = field(default_factory=dict)  # source -> rows matched (dropped or reported)

    def __add__(self, other: DecontamCounts) -> DecontamCounts:
        by = dict(self.by_source)
        for k, v in other.by_source.items():
            by[k] = by.get(k, 0) + v
        return DecontamCounts(self.checked + other.checked, self.dropped + other.dropped,
                              self.heldout_overlap + other.heldout_overlap, by)


def drops_heldout(policy: str, domain: str) -> bool:
    """Whether a row of `domain` matching a held-out problem is dropped under `policy`.

    >>> drops_heldout("auto", "file"), drops_heldout("auto", "addition"), drops_heldout("drop", "addition")
    (True, False, True)
    """
    return policy == "drop" or (policy == "auto" and domain == "file")


def check_table(table: pa.Table, index: Index) -> tuple[pa.Table, DecontamCounts]:
    """A new table: each kept row checked; a hit on a benchmark file (or on the held-out set, where
    `drops_heldout`) is dropped as `contaminated`, the others kept; `contamination` says what each
    matched. Rows the verifier dropped are not checked (each drop is counted once)."""
    kept = table["kept"].to_pylist()
    at = [i for i, k in enumerate(kept) if k]
    cols = {c: table[c].to_pylist() for c in ("prompt", "completion", "domain", "drop_reason")}
    hits = index.check([cols["prompt"][i] for i in at], [cols["completion"][i] for i in at])
    tags: list[str | None] = [None] * table.num_rows
    counts = DecontamCounts(checked=len(at))
    reasons = cols["drop_reason"]
    for i, hit in zip(at, hits):
        if hit is None:
            continue
        tags[i] = hit.tag()
        counts.by_source[hit.source] = counts.by_source.get(hit.source, 0) + 1
        if hit.source != HELDOUT or drops_heldout(index.cfg.heldout, cols["domain"][i]):
            kept[i], reasons[i] = False, "contaminated"
            counts.dropped += 1
        else:
            counts.heldout_overlap += 1
    table = set_column(table, "kept", pa.array(kept, pa.bool_()))
    table = set_column(table, "drop_reason", pa.array(reasons, pa.string()))
    return set_column(table, "contamination", pa.array(tags, pa.string())), counts
