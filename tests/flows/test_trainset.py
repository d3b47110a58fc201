"""The training set as a version (lineage model <- training set <- round versions), and the round
that keeps no row: recorded, no fine-tune, the incumbent stays (issue 14)."""

import pyarrow as pa
from synthloop.loop import trainset
from synthloop.loop.config import LoopConfig
from synthloop.loop.finetune import finetune, training_pairs
from synthloop.loop.gate import decide
from synthloop.loop.records import NoData, Published, incumbent
from synthloop.warehouse import Catalog, to_arrow
from synthloop.warehouse.lineage import used_by

from ..warehouse.fake_run import make_rows, make_run


def _cfg(**ft):
    return LoopConfig.model_validate({"name": "fake", "finetune": {"seed_replay": 0, **ft},
                                      "diversity": {"embeddings": False}})


def test_the_rows_a_fine_tune_uses_are_published_as_a_version(tmp_path):
    cat = make_run(tmp_path, rounds=2)
    cfg = _cfg(policy="accumulate", max_per_problem=1)
    table, sources = trainset.training_rows(cat, cfg, 2)
    kept = [r for v in (1, 2) for r in make_rows(v) if r["kept"]]
    assert list(sources) == ["fake@1", "fake@2"] and all(n > 0 for n in sources.values())
    assert table.num_rows == len({r["problem_id"] for r in kept}) == sum(sources.values())  # one per problem
    assert training_pairs(cat, cfg, 2) == trainset.training_pairs(table)
    v = trainset.publish_training_set(cat, cfg, 2, table, sources, "fake-m2", "test")
    assert trainset.publish_training_set(cat, cfg, 2, table, sources, "fake-m2") == v  # a rerun finds it
    info = cat.resolve(f"fake-train@{v}")
    assert info["parents"] == ["fake@1", "fake@2"] and info["round"] == 2 and info["kept"] == table.num_rows
    assert info["metrics"]["from"] == sources and info["metrics"]["policy"] == "accumulate"
    cat.register_model("fake-m2", tmp_path / "m2", round=2, parent="fake-m1", status="promoted",
                       dataset="fake-train", dataset_version=v)
    trained = [{"model_id": "fake-m2", "status": "promoted"}]
    assert used_by(cat, "fake", 1) == [{"ref": f"fake-train@{v}", "rows": table.num_rows, "round": 2, "models": trained}]
    assert used_by(cat, "fake", 2)[0]["models"] == trained
    pulled = to_arrow(f"fake-train@{v}", home=tmp_path)
    assert pulled["row_id"].to_pylist() == table["row_id"].to_pylist()


def test_a_round_that_keeps_nothing_is_recorded_and_the_incumbent_stays(tmp_path):
    cat = Catalog(tmp_path)
    ev = {"accuracy": 0.5, "pass_at_k": 0.6, "k": 2}
    cat.register_model("fake-m0", tmp_path / "m0", round=0, parent=None, status="promoted", metrics={"eval": ev})
    cat.finish_round("fake", 0, dataset_version=None, model_in=None, model_out="fake-m0", promoted=True,
                     reason="bootstrap", metrics={"eval": ev})
    rows = [r | {"kept": False, "drop_reason": "wrong_answer"} for r in make_rows(1)]
    v = cat.publish("fake", pa.Table.from_pylist(rows).select([c for c in rows[0]]), round=1, model_id="fake-m0",
                    metrics={"generated": len(rows), "correct": 0, "kept": 0})
    cfg = _cfg()
    model = incumbent(cat, "fake")
    cand = finetune(cat, cfg, 1, model, v)  # used to raise "nothing to train on"
    assert isinstance(cand, NoData) and cand.reason.startswith("no kept rows in fake@1")
    done = decide(cat, cfg, 1, cand, model, Published(v, {"generated": len(rows), "correct": 0, "kept": 0}))
    assert done.promoted is False and done.model_out == "fake-m0" and "fake-m0 stays" in done.reason
    assert cat.model("fake-m1") is None and trainset.training_set_of(cat, "fake", 1) is None
    assert incumbent(cat, "fake").model_id == "fake-m0"  # the next round generates with it
    assert [r["round"] for r in cat.rounds("fake")] == [0, 1]  # recorded: a rerun moves on to round 2


def test_recent_share_repeats_the_newest_rounds_rows_to_that_share(tmp_path):
    cat = make_run(tmp_path, rounds=3)
    plain, src = trainset.training_rows(cat, _cfg(policy="accumulate", max_per_problem=1), 3)
    table, sources = trainset.training_rows(cat, _cfg(policy="accumulate", max_per_problem=1, recent_share=0.5), 3)
    newest, older = src["fake@3"], src["fake@1"] + src["fake@2"]
    assert newest > 0 and older > newest  # else the test would show nothing
    assert sources["fake@3"] == table.num_rows - older == max(newest, round(older))  # half of the result
    assert sources["fake@1"] == src["fake@1"] and sources["fake@2"] == src["fake@2"]  # older rows once each
    ids = table["row_id"].to_pylist()
    assert set(ids) == set(plain["row_id"].to_pylist())  # the same rows, the newest ones repeated
    new_ids = set(plain["row_id"].to_pylist()[older:])
    assert sum(ids.count(i) for i in new_ids) == sources["fake@3"]


def test_too_few_new_rows_wait_for_the_next_round(tmp_path):
    """finetune.min_rows: a round with fewer new kept rows trains nothing, `status` says waiting,
    and under accumulate its rows count toward the next round, which trains on both rounds."""
    from synthloop.loop.status import status_rows

    cat = Catalog(tmp_path)
    ev = {"accuracy": 0.5, "pass_at_k": 0.6, "k": 2}
    cat.register_model("fake-m0", tmp_path / "m0", round=0, parent=None, status="promoted", metrics={"eval": ev})
    cat.finish_round("fake", 0, dataset_version=None, model_in=None, model_out="fake-m0", promoted=True,
                     reason="bootstrap", metrics={"eval": ev})
    kept1 = [r for r in make_rows(1) if r["kept"]]
    need = len(kept1) + 1
    cfg = _cfg(policy="accumulate", min_rows=need)
    v1 = cat.publish("fake", pa.Table.from_pylist(kept1).select(list(kept1[0])), round=1, model_id="fake-m0",
                     metrics={"generated": len(kept1), "correct": len(kept1), "kept": len(kept1)})
    model = incumbent(cat, "fake")
    cand = finetune(cat, cfg, 1, model, v1)
    assert isinstance(cand, NoData) and cand.reason.startswith(f"waiting for rows: {len(kept1)} new kept rows")
    done = decide(cat, cfg, 1, cand, model, Published(v1, {"generated": len(kept1), "correct": len(kept1), "kept": len(kept1)}))
    assert done.promoted is False and done.model_out == "fake-m0" and "next round" in done.reason
    assert status_rows(cat, "fake")[1]["reason"].startswith("waiting for rows")
    kept2 = [r for r in make_rows(2) if r["kept"]]
    cat.publish("fake", pa.Table.from_pylist(kept2).select(list(kept2[0])), round=2, model_id="fake-m0",
                metrics={"generated": len(kept2), "correct": len(kept2), "kept": len(kept2)})
    # round 2: its rows and round 1's waiting ones together reach the minimum
    assert trainset.new_kept_rows(cat, cfg, 2) == len(kept1) + len(kept2) >= need
    assert trainset.empty_round_reason(cat, cfg, 2, model) is None
    assert LoopConfig.model_validate({"finetune": {"min_rows": 1}}).finetune.min_rows == 1


def test_epochs_scale_the_fine_tune_with_the_rows_and_leave_old_runs_their_hash():
    """`finetune.epochs`: a training set that outgrows train.steps is still seen that many times;
    at its default (0) the steps are train.steps and a run made before the key existed resumes."""
    cfg = _cfg(train={"steps": 40, "batch_size": 8}, epochs=2)
    assert [cfg.finetune.steps_for(n) for n in (13, 160, 161, 466)] == [40, 40, 41, 117]
    plain = _cfg(train={"steps": 40, "batch_size": 8})
    assert plain.finetune.steps_for(466) == 40
    assert plain.config_hash() != cfg.config_hash()  # a different fine-tune is a different run
    # the hash of a config without the keys added since (at their defaults) is the hash it had before
    import hashlib
    import json
    old = json.dumps(plain.model_dump(mode="json", exclude={"rounds": True, "execution": True, "audit": True,
                                                            "decontaminate": True, "finetune": {"epochs"},
                                                            "generation": {"fresh_first"}}),
                     sort_keys=True)
    assert plain.config_hash() == hashlib.sha256(old.encode()).hexdigest()[:16]
