"""Diversity alerts between rounds (`Alert`): a round is compared with the last ones like with like.

A round's kept rows fall into strata, a domain and a difficulty ("addition/2"); `filters/diversity.py`
records each stratum's scores in `RoundMetrics.by_stratum`. Two rounds are compared stratum by
stratum and the strata's changes are averaged with weights (the kept rows of both rounds), so a
curriculum that moves to longer problems (another mix of strata) is not a collapse. A stratum is
compared only when it kept at least `min_rows` rows in both rounds, and its n-gram and embedding
scores at the same sample size in both (distinct-n and Vendi move with the number of texts alone).

The primary collapse signal is the share of kept rows whose completion was also kept for another
problem of the same stratum: a model that stops reading the problem repeats itself across problems.
A fall of distinct-n or Vendi alone can mean other things: replies that turned from chatty to terse
(`12 + 30 = 42`) have fewer and more repeated n-grams without repeating each other. So a stratum
whose replies got more than `length_ratio` times shorter is left out of the score comparisons and
said in a note (`diversity_notes`), and the shared-completion check still covers it.

Rounds recorded before strata (no `by_stratum`) cannot be compared like with like: no alert.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .diversity import DiversityConfig

# Scores where a lower value means more diverse: a collapse is a rise, not a fall.
LOWER_IS_DIVERSE = {"compression_ratio"}
SHARED = "shared_completions"  # the primary signal's metric name (a share of kept rows)
Z95 = 1.96  # the normal quantile of a two-sided 95% interval

# The run table's short form of a legacy (untyped) alert: 'distinct_2 fell 40%'.
_SHORT = re.compile(r"\w+ (fell|rose) \d+(%| rounds in a row)")


@dataclass(frozen=True)
class Alert:
    """A diversity alert of a round: a watched score that collapsed against the last round
    (`kind` "collapse") or declined steadily over the last rounds ("trend"); or the verifier
    audit's ("audit", loop/audit.py): a false-accept or false-reject rate (`after`, interval
    `low`/`high` on `rows_after` re-judged rows) above its limit.

    `before`/`after` are the score's values at the start and end (for a trend, its first and last
    round; weighted over the strata compared), `change` is the relative move `(after - before) /
    |before|` (for `shared_completions`, the share's move in points), `rounds` the rounds in a row of
    a trend. `strata` are the strata compared, worst first, `rows_before`/`rows_after` their kept
    rows in the two rounds, `low`/`high` the 95% interval of `change` where one is computed.
    `message` is the log's line and says all of that. The catalog keeps `to_dict()`; `from_dict`
    reads that back, also the dicts kept before the strata fields, and a plain string (catalogs
    written before alerts were typed): kind "legacy".

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
    strata: tuple[str, ...] = ()
    rows_before: int | None = None
    rows_after: int | None = None
    low: float | None = None
    high: float | None = None

    @property
    def short(self) -> str:
        """What the run table prints: 'distinct_2 fell 40%', 'vendi fell 3 rounds in a row',
        'shared_completions rose to 90%' ('' if unknown)."""
        if self.kind == "audit" and self.metric and self.after is not None:  # the verifier audit's
            return f"{self.metric} {self.after:.0%}"
        if self.kind == "collapse" and self.metric == SHARED and self.after is not None:
            return f"{SHARED} rose to {self.after:.0%}"
        if self.kind in ("collapse", "trend") and self.metric and self.change is not None:
            verb = "rose" if self.change > 0 else "fell"
            size = f"{self.rounds} rounds in a row" if self.kind == "trend" else f"{abs(self.change):.0%}"
            return f"{self.metric} {verb} {size}"
        m = _SHORT.search(self.message)
        return m.group(0) if m else ""

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        return asdict(self) | {"strata": list(self.strata)}

    @classmethod
    def from_dict(cls, d: dict | str | Alert) -> Alert:
        """An alert as the catalog keeps it (a dict), or as it kept it before (a plain string)."""
        if isinstance(d, Alert):
            return d
        if isinstance(d, str):
            return cls("legacy", None, None, None, None, None, d)
        return cls(kind=d.get("kind") or "legacy", metric=d.get("metric"), before=d.get("before"),
                   after=d.get("after"), change=d.get("change"), rounds=d.get("rounds"),
                   message=str(d.get("message") or ""), strata=tuple(d.get("strata") or ()),
                   rows_before=d.get("rows_before"), rows_after=d.get("rows_after"), low=d.get("low"),
                   high=d.get("high"))


@dataclass(frozen=True)
class Change:
    """A score's move between two rounds, over the strata both can compare (weights: kept rows of both)."""

    metric: str
    before: float  # weighted means of the values compared
    after: float
    change: float  # weighted mean of the strata's relative changes (`shared_completions`: of the differences)
    strata: list[tuple[str, int, int, float]]  # (stratum, rows before, rows now, its change), worst first
    size: int | None = None  # the sample size the scores were compared at (the smallest over strata)
    low: float | None = None  # 95% interval of `change` (`shared_completions` only)
    high: float | None = None
    shorter: tuple[tuple[str, float, float, float], ...] = ()  # (stratum, tokens before, now, change) left out

    @property
    def rows(self) -> tuple[int, int]:
        return sum(s[1] for s in self.strata), sum(s[2] for s in self.strata)

    def where(self, pct: bool = True) -> str:
        """'addition/1 -40% (40 -> 38 rows), addition/2 -5% (...)': the strata compared, worst first."""
        fmt = (lambda c: f"{c:+.0%}") if pct else (lambda c: f"{100 * c:+.0f} points")
        return ", ".join(f"{s} {fmt(c)} ({b} -> {a} rows)" for s, b, a, c in self.strata)


def _value(stratum: dict, key: str, size: int | None) -> float | None:
    """A stratum's score: a number, or a curve {size: value} read at `size`."""
    v = stratum.get(key)
    if isinstance(v, dict):
        v = v.get(str(size))
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _common_size(a: dict, b: dict, key: str) -> int | None:
    """The largest sample size both strata recorded `key` at; None for a plain number."""
    ca, cb = a.get(key), b.get(key)
    if not isinstance(ca, dict) or not isinstance(cb, dict):
        return None
    both = [int(s) for s in ca.keys() & cb.keys()]
    return max(both) if both else -1


def compare(current: dict, previous: dict, key: str, cfg: DiversityConfig) -> Change | None:
    """`key`'s within-strata move from `previous` to `current` (round metrics as the catalog keeps
    them); None when no stratum has `min_rows` kept rows in both rounds (or either has no strata)."""
    now_s, before_s = (current or {}).get("by_stratum"), (previous or {}).get("by_stratum")
    if not isinstance(now_s, dict) or not isinstance(before_s, dict):
        return None
    rows, shorter, sizes = [], [], []
    for name in sorted(now_s.keys() & before_s.keys()):
        a, b = before_s[name], now_s[name]
        na, nb = a.get("kept", 0), b.get("kept", 0)
        if min(na, nb) < cfg.min_rows:
            continue
        if key == SHARED:
            va, vb = a.get("shared", 0) / na, b.get("shared", 0) / nb
            rows.append((name, na, nb, va, vb, vb - va))
            continue
        size = _common_size(a, b, key)
        va, vb = _value(a, key, size), _value(b, key, size)
        if va is None or vb is None or va <= 0:
            continue
        change = (vb - va) / va
        ta, tb = a.get("tokens") or 0, b.get("tokens") or 0
        if tb * cfg.length_ratio < ta:  # replies got much shorter: not comparable (see the module doc)
            shorter.append((name, ta, tb, change))
            continue
        rows.append((name, na, nb, va, vb, change))
        if size is not None:
            sizes.append(size)
    if not rows:
        return Change(key, 0.0, 0.0, 0.0, [], shorter=tuple(shorter)) if shorter else None
    w = [na + nb for _, na, nb, *_ in rows]
    total = sum(w)

    def mean(i: int) -> float:
        return sum(wi / total * r[i] for wi, r in zip(w, rows))  # one stratum: its value, exactly

    sign = 1 if key in LOWER_IS_DIVERSE or key == SHARED else -1  # +1: rising is worse
    worst = sorted(rows, key=lambda r: (-sign * r[5], r[0]))
    out = Change(key, mean(3), mean(4), mean(5), [(n, na, nb, c) for n, na, nb, _, _, c in worst],
                 size=min(sizes) if sizes else None, shorter=tuple(shorter))
    if key == SHARED:  # a difference of two proportions per stratum, strata independent
        var = sum(wi**2 * (_pvar(va, na) + _pvar(vb, nb)) for wi, (_, na, nb, va, vb, _) in zip(w, rows)) / total**2
        se = math.sqrt(var)
        out = replace(out, low=out.change - Z95 * se, high=out.change + Z95 * se)
    return out


def _pvar(p: float, n: int) -> float:
    """Variance of a share of n rows; p pulled half a row from 0 and 1 so that 0 of 40 is not certain."""
    p = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return p * (1 - p) / n


def collapse_alerts(current: dict, previous: dict | None, cfg: DiversityConfig) -> list[Alert]:
    """This round's collapse alerts against the last one: completions shared across problems first,
    then one per watched score that moved against diversity by more than `collapse_drop`, each
    within strata (see the module doc).

    >>> from synthloop.filters.diversity import DiversityConfig
    >>> s = lambda d2, shared=0: {"by_stratum": {"addition/1": {"kept": 40, "tokens": 12, "shared": shared,
    ...                                                         "distinct_2": {"16": d2, "32": d2}}}}
    >>> (a,) = collapse_alerts(s(0.3), s(0.5), DiversityConfig())
    >>> a.short, a.strata, (a.rows_before, a.rows_after)
    ('distinct_2 fell 40%', ('addition/1',), (40, 40))
    >>> a.message
    'diversity collapse: distinct_2 fell 40% within strata (0.5 -> 0.3 at 32 rows a stratum; addition/1 -40% (40 -> 40 rows)), more than the 20% allowed'
    >>> [a.short for a in collapse_alerts(s(0.5, shared=36), s(0.5), DiversityConfig())]
    ['shared_completions rose to 90%']
    >>> collapse_alerts({"distinct_2": 0.3}, {"distinct_2": 0.5}, DiversityConfig())  # no strata: not comparable
    []
    """
    if not previous:
        return []
    out = []
    shared = compare(current, previous, SHARED, cfg)
    if shared and shared.strata and shared.change > cfg.shared_rise and shared.low > 0:
        out.append(_shared_alert(current, shared, cfg))
    for key in cfg.watch:
        c = compare(current, previous, key, cfg)
        if not c or not c.strata:
            continue
        worse = c.change if key in LOWER_IS_DIVERSE else -c.change
        if worse > cfg.collapse_drop:
            verb = "rose" if key in LOWER_IS_DIVERSE else "fell"
            at = f" at {c.size} rows a stratum" if c.size else ""
            out.append(Alert("collapse", key, c.before, c.after, c.change, None,
                             f"diversity collapse: {key} {verb} {abs(c.change):.0%} within strata "
                             f"({c.before:.3g} -> {c.after:.3g}{at}; {c.where()}), more than the "
                             f"{cfg.collapse_drop:.0%} allowed",
                             tuple(s[0] for s in c.strata), *c.rows))
    return out


def _shared_rows(top: dict) -> int:
    """The kept rows of a stratum's most repeated completion ("problems" in rounds scored before
    the scorer counted rows)."""
    return top.get("rows", top.get("problems", 0))


def _shared_alert(current: dict, c: Change, cfg: DiversityConfig) -> Alert:
    """The alert for completions repeated across problems, with an example of what was repeated."""
    strata = current["by_stratum"]
    top = max((strata[s].get("shared_top") or {} for s, *_ in c.strata), key=_shared_rows)
    seen = f"; e.g. {top['completion']!r} kept {_shared_rows(top)} times, for more than one problem" \
        if _shared_rows(top) else ""
    return Alert("collapse", SHARED, c.before, c.after, c.change, None,
                 f"diversity collapse: {c.after:.0%} of kept rows repeat a completion kept for another problem "
                 f"of their stratum ({c.before:.0%} last round; {100 * c.change:+.0f} points, 95% interval "
                 f"[{100 * c.low:+.0f}, {100 * c.high:+.0f}], more than the {100 * cfg.shared_rise:.0f} allowed; "
                 f"{c.where(pct=False)}; strata with at least {cfg.min_rows} kept rows in both rounds){seen}",
                 tuple(s[0] for s in c.strata), *c.rows, c.low, c.high)


def diversity_notes(current: dict, previous: dict | None, cfg: DiversityConfig) -> list[str]:
    """What the log says about strata left out of the score comparisons because their replies got
    much shorter, where the score moved against diversity by more than `collapse_drop` there."""
    out = []
    for key in cfg.watch if previous else ():
        c = compare(current, previous, key, cfg)
        for name, ta, tb, change in c.shorter if c else ():
            worse = change if key in LOWER_IS_DIVERSE else -change
            if worse > cfg.collapse_drop:
                s = current["by_stratum"][name]
                out.append(f"{key} {'rose' if key in LOWER_IS_DIVERSE else 'fell'} {abs(change):.0%} in {name} "
                           f"while its replies got {ta / max(tb, 1e-9):.1f}x shorter ({ta:.0f} -> {tb:.0f} tokens): "
                           f"not counted as a collapse; {s.get('shared', 0)} of {s.get('kept', 0)} kept rows "
                           "there repeat another problem's completion")
    return out


def trend_alerts(series: list[dict], cfg: DiversityConfig) -> list[Alert]:
    """One alert per watched score that moved against diversity, within strata, in each of the last
    `trend_rounds` rounds of `series` (round metrics, oldest first, this round last), by more than
    `trend_step` in each and `trend_drop` in all (the steps' changes compounded).

    >>> from synthloop.filters.diversity import DiversityConfig
    >>> s = lambda v: {"by_stratum": {"addition/1": {"kept": 64, "tokens": 9, "vendi": {"16": v}}}}
    >>> [a.message for a in trend_alerts([s(6.59), s(6.45), s(6.27)], DiversityConfig())]
    ['diversity trend: vendi fell 3 rounds in a row within strata (-2.1%, -2.8% a round, -4.9% in all; addition/1 with 64 kept rows)']
    >>> trend_alerts([s(6.59), s(6.60), s(6.27)], DiversityConfig()), trend_alerts([s(6.59), s(6.35), s(6.34)], DiversityConfig())
    ([], [])
    """
    out = []
    n = cfg.trend_rounds
    if len(series) < n:
        return out
    for key in cfg.watch:
        steps = [compare(b, a, key, cfg) for a, b in zip(series[-n:], series[-n + 1 :])]
        if not all(c and c.strata for c in steps):
            continue
        sign = 1 if key in LOWER_IS_DIVERSE else -1  # +1: rising is worse
        total = math.prod(1 + c.change for c in steps) - 1
        if all(sign * c.change > cfg.trend_step for c in steps) and sign * total > cfg.trend_drop:
            verb = "rose" if sign > 0 else "fell"
            path = ", ".join(f"{c.change:+.1%}" for c in steps)
            last = steps[-1]
            where = ", ".join(f"{s} with {a} kept rows" for s, _, a, _ in last.strata)
            out.append(Alert("trend", key, steps[0].before, last.after, total, n,
                             f"diversity trend: {key} {verb} {n} rounds in a row within strata ({path} a round, "
                             f"{total:+.1%} in all; {where})", tuple(s[0] for s in last.strata), *last.rows))
    return out
