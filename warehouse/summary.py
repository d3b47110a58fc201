"""One dataset version's quality summary: what the HTML report draws and the Prefect artifacts show.

Everything is computed from the stored rows and the catalog, so a version published by any code
version (or the seed set, which has no round metrics) gets a full summary. Round metrics written by
`filters.diversity.score_rows` are read defensively: keys that are missing are skipped, keys added
later (more diversity scores, alerts) are shown as they come.
"""

from __future__ import annotations

import duckdb

from .catalog import Catalog, row_counts

# Metric keys with a structure drawn elsewhere; every other numeric key is a diversity/quality score.
# `embedding_sample` is a count (texts embedded), not a score: drawn beside the scores it flattened them.
_STRUCTURED = {"generated", "correct", "kept", "tokens", "problems", "problems_solved", "drop_reasons",
               "by_sampler", "by_difficulty", "embedding_sample"}
TRUST_EXAMPLES = 5  # contaminated rows shown side by side with what they matched


def summarize(cat: Catalog, ref: str, n_samples: int = 200, seed: int = 0) -> dict:
    """Everything the report shows about `ref`, as plain JSON-able data."""
    info = cat.resolve(ref)
    table = cat.read_table(f"{info['name']}@{info['version']}")
    con = duckdb.connect()
    try:
        con.register("t", table)

        def rows(sql: str) -> list[dict]:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

        by_sampler = rows("""
            SELECT sampler, count(*) AS n, count(*) FILTER (correct) AS correct,
                   count(*) FILTER (kept) AS kept, coalesce(sum(n_tokens), 0) AS tokens,
                   avg(correct::INT) AS pass_rate, avg(kept::INT) AS kept_rate
            FROM t GROUP BY ALL ORDER BY sampler""")
        for r in by_sampler:
            r["kept_per_1k_tokens"] = 1000 * r["kept"] / r["tokens"] if r["tokens"] else None
        by_difficulty = rows("""
            SELECT difficulty, count(*) AS n, count(*) FILTER (correct) AS correct,
                   count(*) FILTER (kept) AS kept, avg(correct::INT) AS pass_rate, avg(kept::INT) AS kept_rate
            FROM t GROUP BY ALL ORDER BY difficulty""")
        drop_reasons = rows("""
            SELECT coalesce(drop_reason, 'unknown') AS reason, count(*) AS n
            FROM t WHERE NOT kept GROUP BY ALL ORDER BY n DESC, reason""")
        clusters = rows("""
            SELECT cluster_id, count(*) AS size, count(*) FILTER (kept) AS kept,
                   any_value(completion) FILTER (row_id = cluster_id) AS representative
            FROM t WHERE cluster_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1
            ORDER BY size DESC, cluster_id LIMIT 10""")
        cluster_sizes = rows("""
            SELECT size, count(*) AS clusters FROM
              (SELECT count(*) AS size FROM t WHERE cluster_id IS NOT NULL GROUP BY cluster_id)
            GROUP BY ALL ORDER BY size""")
        lengths = rows("SELECT kept, n_tokens, length(completion) AS chars FROM t")
        # Near-duplicate pairs inside this version, side by side (the first of each cluster kept).
        near_dups = rows("""
            SELECT d.row_id, d.completion, d.dup_of, o.completion AS dup_of_completion, d.sampler,
                   o.sampler AS dup_of_sampler, d.prompt
            FROM t AS d JOIN t AS o ON o.row_id = d.dup_of
            WHERE d.dup_of IS NOT NULL ORDER BY hash(d.row_id) LIMIT 12""")
        # Rows that matched a text kept out of training: dropped, or (a generated domain's
        # held-out overlap) kept and reported. Versions from before the column have none.
        contaminated = rows(f"""
            SELECT row_id, kept, drop_reason, prompt, contamination FROM t WHERE contamination IS NOT NULL
            ORDER BY kept, hash(row_id) LIMIT {TRUST_EXAMPLES}""") if "contamination" in table.column_names else []
        samples = rows(f"""
            SELECT row_id, problem_id, kept, correct, steps_ok, first_bad_step, error_kind, drop_reason, dup_of,
                   sampler, difficulty, prompt, reference, extracted, completion, n_tokens
            FROM (SELECT *, row_number() OVER (PARTITION BY kept ORDER BY hash(row_id, {int(seed)})) AS i FROM t)
            WHERE i <= {int(n_samples) // 2} ORDER BY row_id""")
    finally:
        con.close()
    metrics = info["metrics"] or {}
    cost = metrics.get("cost") or {}
    for r in by_sampler:  # what each sampler's kept rows cost in compute (loop/cost.py)
        c = (cost.get("by_sampler") or {}).get(r["sampler"]) or {}
        r["generate_seconds"], r["kept_per_compute_minute"] = c.get("generate_seconds"), c.get("kept_per_compute_minute")
    return {
        "ref": f"{info['name']}@{info['version']}",
        "info": {k: info.get(k) for k in ("name", "version", "round", "model_id", "parents", "parent_version",
                                          "config_hash", "code_version", "created_at", "rows", "kept", "path")},
        # Versions published before counts were recorded get them from their rows.
        "counts": info.get("counts") or row_counts(table),
        "metrics": metrics,
        "scores": scores(metrics),
        "alerts": alerts(metrics),
        "by_sampler": by_sampler,
        "by_difficulty": by_difficulty,
        "drop_reasons": drop_reasons,
        "clusters": clusters,
        "cluster_sizes": cluster_sizes,
        "lengths": lengths,
        "samples": samples,
        "near_duplicates": near_dups,
        "contamination": {"record": metrics.get("decontamination"), "examples": contaminated},
        "audit": metrics.get("audit"),
        "cost": metrics.get("cost"),
        "history": history(cat, info["name"], info["round"]),
        "config": info["config"],
    }


def scores(metrics: dict) -> dict[str, float]:
    """The diversity and quality scores in a version's metrics: every numeric key not drawn elsewhere.

    >>> scores({"kept": 3, "distinct_2": 0.5, "vendi": 2.0, "by_sampler": {}, "flag": True})
    {'distinct_2': 0.5, 'vendi': 2.0}
    """
    return {k: v for k, v in metrics.items()
            if k not in _STRUCTURED and isinstance(v, (int, float)) and not isinstance(v, bool)}


def alerts(metrics: dict) -> list[str]:
    """Warnings recorded with the metrics (e.g. a diversity collapse alert), as readable lines.
    A typed alert (`filters.diversity.Alert`, kept as a dict) reads as its message; one kept
    before alerts were typed is a plain string.

    >>> alerts({"collapse_alert": "distinct-2 fell 40%", "alerts": ["a"], "ok": 1, "x_alert": None})
    ['collapse_alert: distinct-2 fell 40%', 'a']
    >>> alerts({"collapse_alerts": [{"kind": "trend", "metric": "vendi", "message": "vendi fell 3 rounds"}, "old"]})
    ['vendi fell 3 rounds', 'old']
    """
    out = []
    for k, v in metrics.items():
        if "alert" not in k and "collapse" not in k or v in (None, False, [], {}, ""):
            continue
        if isinstance(v, list):
            out += [x["message"] if isinstance(x, dict) and x.get("message") else str(x) for x in v]
        elif k == "alerts" and isinstance(v, dict):
            out += [f"{kk}: {vv}" for kk, vv in v.items()]
        elif not isinstance(v, (int, float)) or isinstance(v, bool):
            out.append(f"{k}: {v}" if v is not True else k)
    return out


def history(cat: Catalog, name: str, up_to_round: int | None) -> list[dict]:
    """Per round of run `name` (up to this version's): held-out eval, data scores, sampler allocation."""
    evals = {r["round"]: r for r in cat.rounds(name)}
    data = {v["round"]: v for v in cat.versions(name) if v["round"] is not None}
    out = []
    for rnd in sorted(evals.keys() | data.keys()):
        if up_to_round is not None and rnd > up_to_round:
            continue
        r, v = evals.get(rnd), data.get(rnd)
        ev = (r["metrics"].get("eval") if r else None) or {}
        m = (v["metrics"] if v else None) or {}
        out.append({
            "round": rnd,
            "version": v["version"] if v else None,
            "model": r["model_out"] if r else None,
            "promoted": r["promoted"] if r else None,
            "eval": {k: ev[k] for k in ("accuracy", "pass_at_k", "maj_at_k", "distinct_correct", "accuracy_unseen",
                                        "heldout_seen") if k in ev},
            "k": ev.get("k"),
            "scores": scores(m),
            "allocation": allocation(m),
            # Held-out accuracy per difficulty (the heatmap), and the curriculum's frontier when it
            # recorded one (`curriculum: {policy, frontier, by_difficulty}` in the data metrics).
            "by_difficulty": {int(d): v.get("accuracy") for d, v in (ev.get("by_difficulty") or {}).items()
                              if isinstance(v, dict)},
            "frontier": (m.get("curriculum") or {}).get("frontier") if isinstance(m.get("curriculum"), dict) else None,
            "reason": r["reason"] if r else None,
        })
    return out


def allocation(metrics: dict) -> dict[str, float]:
    """Share of the round's samples each sampler got: an explicit allocation when the round
    recorded one, else what the samplers actually generated."""
    for key in ("allocation", "sampler_allocation", "shares"):
        alloc = metrics.get(key)
        if isinstance(alloc, dict) and alloc and all(isinstance(v, (int, float)) for v in alloc.values()):
            total = sum(alloc.values()) or 1
            return {k: v / total for k, v in sorted(alloc.items())}
    by = metrics.get("by_sampler") or {}
    ns = {k: v.get("n", 0) for k, v in by.items() if isinstance(v, dict)}
    total = sum(ns.values())
    return {k: n / total for k, n in sorted(ns.items())} if total else {}


def markdown(s: dict) -> str:
    """The summary as Markdown: what the Prefect artifact shows on the round's flow run."""
    i, c = s["info"], s["counts"]
    lines = [
        f"# {s['ref']}",
        "",
        (f"round {i['round']} · model `{i['model_id']}` · config `{i['config_hash']}` · code `{i['code_version']}`"
         f" · parents {', '.join(i['parents'] or []) or '-'}"),
        "",
        "| rows | kept | dropped | " + " | ".join(c.get("by_verdict", {})) + " |",
        "|---:|---:|---:|" + "---:|" * len(c.get("by_verdict", {})),
        f"| {i['rows']} | {i['kept']} | {i['rows'] - i['kept']} | "
        + " | ".join(str(v) for v in c.get("by_verdict", {}).values()) + " |",
        "",
    ]
    this = next((h for h in s["history"] if h["round"] == i["round"]), None)
    if this and this["eval"]:  # the model trained on this round's data, and the gate's verdict
        ev = this["eval"]
        gate = this.get("reason") or "-"
        head = f"**held-out accuracy** {_pct(ev.get('accuracy'))} · pass@{this['k']} {_pct(ev.get('pass_at_k'))}"
        lines += [f"{head} · **gate** {gate}", ""]
    for alert in s["alerts"]:
        lines.insert(2, f"> **alert:** {alert}\n")
    lines += ["## By sampler", "", ("| sampler | n | pass rate | kept | tokens | kept / 1k tokens | generate s "
              "| kept / compute-minute |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['sampler']} | {r['n']} | {_pct(r['pass_rate'])} | {r['kept']} | {r['tokens']} "
              f"| {_num(r['kept_per_1k_tokens'])} | {_num(r.get('generate_seconds'))} "
              f"| {_num(r.get('kept_per_compute_minute'))} |" for r in s["by_sampler"]]
    lines += ["", "## By difficulty", "", "| difficulty | n | pass rate | kept |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['difficulty']} | {r['n']} | {_pct(r['pass_rate'])} | {r['kept']} |" for r in s["by_difficulty"]]
    if s["drop_reasons"]:
        lines += ["", "## Drop reasons", "", "| reason | rows |", "|---|---:|"]
        lines += [f"| {r['reason']} | {r['n']} |" for r in s["drop_reasons"]]
    lines += trust_markdown(s)
    if s["scores"]:
        lines += ["", "## Diversity and quality", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {_num(v)} |" for k, v in s["scores"].items()]
    return "\n".join(lines) + "\n"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def trust_lines(s: dict) -> dict[str, list[str]]:
    """What says whether the version can be trusted, as plain lines per part (decontamination,
    audit, cost): the Markdown artifact and the HTML report show the same lines."""
    out: dict[str, list[str]] = {}
    rec = s["contamination"]["record"]
    if rec:
        against = ", ".join(f"{a['source']} ({a['items']} texts, sha256 {a['sha256'][:12]})"
                            for a in (rec.get("index") or {}).get("checked_against", []))
        out["decontamination"] = [
            (f"checked {rec['checked']} kept rows against {against or '-'}: {rec['dropped']} dropped as "
            f"contaminated, {rec['heldout_overlap']} kept that match held-out problems (reported, "
            f"held-out policy {rec.get('heldout_policy')})")]
        out["decontamination"] += [f"{'kept' if e['kept'] else 'dropped'} {e['row_id']}: {e['prompt'][:80]!r} "
                                   f"matched {e['contamination']}" for e in s["contamination"]["examples"]]
    a = s["audit"]
    if a:
        def rate(name: str, n: str) -> str:
            r, ci = a.get(f"{name}_rate"), a.get(f"{name}_ci")
            return "-" if r is None else f"{100 * r:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] of {a[n]} rows"
        out["verifier audit"] = [(f"false-accept rate {rate('false_accept', 'kept_judged')}; false-reject rate "
                                 f"{rate('false_reject', 'rejected_judged')} (95% Wilson; {a['unjudged']} not judgeable)")]
        out["verifier audit"] += [f"{e['row_id']}: verifier says {e['verifier']}, second judge {e['judge']} "
                                  f"(reference {e['reference']!r}, read {e['extracted']!r})" for e in a.get("examples", [])]
    c = s["cost"]
    if c:
        out["cost"] = [(f"{c['tokens']:,} tokens, {c['compute_seconds']:.1f} compute seconds "
                       f"({c['generate_seconds']:.1f} generating): {_num(c['kept_per_1k_tokens'])} kept rows per 1k "
                       f"tokens, {_num(c['kept_per_compute_minute'])} per compute-minute")]
        out["cost"] += [f"{name}: {v['tokens']:,} tokens, {v['generate_seconds']:.1f} s generating: "
                        f"{_num(v['kept_per_1k_tokens'])} kept / 1k tokens, {_num(v['kept_per_compute_minute'])} "
                        "kept / compute-minute" for name, v in (c.get("by_sampler") or {}).items()]
    return out


def trust_markdown(s: dict) -> list[str]:
    lines = []
    for title, items in trust_lines(s).items():
        lines += ["", f"## {title[0].upper()}{title[1:]}", ""] + [f"- {x}" for x in items]
    return lines


SAMPLER_COLUMNS = ("sampler", "n", "correct", "kept", "pass_rate", "tokens", "kept_per_1k_tokens", "generate_seconds",
                   "kept_per_compute_minute")


def sampler_table(s: dict) -> list[dict]:
    """The by-sampler table (the Prefect artifact's): pass rate, and what each sampler's kept rows cost."""
    return [{k: r.get(k) for k in SAMPLER_COLUMNS} for r in s["by_sampler"]]
