"""The round's quality summary as Prefect artifacts with stable keys, on the flow run."""

import json

import httpx
from prefect import flow
from synthloop.flows.artifacts import artifact_key, publish_artifacts

from ..warehouse.fake_run import make_run


def latest(key: str) -> dict:
    """The newest artifact under `key`, straight from the API. (Artifact.get and the client's
    read_artifacts in Prefect 3.8.8 send null or empty filters, which the server rejects or reads as
    "attached to some task run".)"""
    from prefect.settings import PREFECT_API_URL

    body = {"artifacts": {"key": {"any_": [key]}}, "sort": "UPDATED_DESC", "limit": 1, "offset": 0}
    r = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body, timeout=30)
    r.raise_for_status()
    (found,) = r.json()
    return found


def test_summary_artifacts_on_the_flow_run(prefect_harness, tmp_path):
    make_run(tmp_path, name="Art_run", rounds=2)

    @flow
    def a_round(ref: str):
        from prefect.runtime import flow_run

        return publish_artifacts(str(tmp_path), ref), str(flow_run.id)

    keys, run_id = a_round("Art_run@1")
    assert keys == {"summary": "synthloop-art-run-summary", "by-sampler": "synthloop-art-run-by-sampler",
                    "rounds": "synthloop-art-run-rounds"}
    md = latest(keys["summary"])
    assert md["flow_run_id"] == run_id and md["type"] == "markdown"
    assert md["data"].startswith("# Art_run@1") and "## By sampler" in md["data"]
    table = latest(keys["by-sampler"])
    assert table["type"] == "table" and table["flow_run_id"] == run_id
    assert sorted(r["sampler"] for r in json.loads(table["data"])) == ["cool", "hot", "warm"]
    # The next round writes a new version under the same key.
    keys2, run2 = a_round("Art_run@2")
    assert keys2 == keys and latest(keys["summary"])["flow_run_id"] == run2 != run_id
    assert latest(keys["summary"])["data"].startswith("# Art_run@2")
    rounds = json.loads(latest(keys["rounds"])["data"])
    assert [r["round"] for r in rounds] == [0, 1, 2]
    # Every round's columns in every row (Prefect takes the columns from the first row, round 0),
    # held-out accuracy and the gate's reason included; the summary says both too (issue 14).
    assert all(set(r) == set(rounds[2]) for r in rounds) and {"accuracy", "gate", "distinct_2"} <= set(rounds[0])
    assert rounds[2]["gate"] == "no regression" and rounds[0]["distinct_2"] is None
    assert "**held-out accuracy** 60.0%" in latest(keys["summary"])["data"] and "**gate** no regression" in latest(keys["summary"])["data"]
    assert artifact_key("a.B_c", "x") == "synthloop-a-b-c-x"
