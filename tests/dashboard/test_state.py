"""The dashboard's JSON: of a network running now (fed by a real simulation), and of run and sweep outputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import httpx
import pytest

from qinternet.dashboard.alarms import QBER_ALARM, page_alarms
from qinternet.dashboard.app import create_dashboard_app
from qinternet.dashboard.live import live_source
from qinternet.dashboard.outputs import RunOutput, SweepOutput, find_outputs
from qinternet.errors import ParameterError
from qinternet.kms.feeder import NetworkFeeder, topology_of
from qinternet.network.links.base import AbortReason, BlockRecord
from tests.dashboard.conftest import ATTACK_FROM_S, serving


def block(end_s: float, *, key_bits: int = 1000, qber: float = 0.02, abort: AbortReason | None = None) -> BlockRecord:
    return BlockRecord(end_s=end_s, duration_s=1.0, key_bits=key_bits, sifted_bits=1e4, qber=qber, abort_reason=abort)


def test_the_page_lists_the_networks_alarms_raised_by_the_instant_shown_newest_first() -> None:
    alarms = [
        {"link": "l1", "detected_as": "outage", "raised_s": 60.0, "cleared_s": 180.0, "reason": "loss of signal"},
        {"link": "l2", "detected_as": "eavesdropping", "raised_s": 120.0, "cleared_s": None, "reason": "QBER"},
    ]
    assert page_alarms(alarms, 30.0) == []
    at_100 = page_alarms(alarms, 100.0)
    assert [(a["link"], a["kind"], a["active"]) for a in at_100] == [("l1", "outage", True)]  # cleared later
    at_200 = page_alarms(alarms, 200.0)
    assert [(a["link"], a["active"], a["cleared_s"]) for a in at_200] == [("l2", True, None), ("l1", False, 180.0)]
    assert [a["message"] for a in page_alarms(alarms)] == ["QBER", "loss of signal"]


def test_the_live_state_follows_the_links_the_pools_and_the_keys_relayed(feeder: NetworkFeeder) -> None:
    topology = topology_of(feeder.scenario)
    source = live_source(feeder, feeder.store, topology)
    first = source.state()
    assert first["mode"] == "live"
    assert [n["id"] for n in first["nodes"]] == ["alice", "relay", "bob"]
    assert all(link["status"] == "waiting" and link["rate_bps"] is None for link in first["links"])
    feeder.advance(300.0)
    state = source.state()
    assert state["time_s"] == pytest.approx(300.0, abs=1e-6)
    for link in state["links"]:
        assert link["blocks"] == 5  # a block a minute
        assert link["status"] == "key"
        assert link["rate_bps"] == pytest.approx(link["key_bits"] / 300.0)  # five blocks span the 300 s
        assert link["pool_bits"] == 8 * feeder.store.pool_level(f"kme-{link['a']}", f"kme-{link['b']}") > 0
        assert 0.0 < link["qber"] < QBER_ALARM
    assert state["alarms"] == []
    # sae-alice takes 2 keys for sae-bob (relayed through the relay's KME) and 1 for sae-relay (one hop)
    store = feeder.store
    relayed = store.issue(
        master_kme="kme-alice", master_sae="sae-alice", slaves=[("sae-bob", ["kme-alice", "kme-relay", "kme-bob"])],
        number=2, size_bits=256,
    )  # fmt: skip
    direct = store.issue(
        master_kme="kme-alice", master_sae="sae-alice", slaves=[("sae-relay", ["kme-alice", "kme-relay"])],
        number=1, size_bits=128,
    )  # fmt: skip
    store.deliver(kme_id="kme-bob", slave_sae="sae-bob", master_sae="sae-alice", key_ids=[k.key_id for k in relayed])
    after = source.state()
    saes = {s["sae"]: s for s in after["saes"]}
    assert (saes["sae-alice"]["issued_keys"], saes["sae-alice"]["issued_bits"]) == (3, 2 * 256 + 128)
    assert (saes["sae-bob"]["delivered_keys"], saes["sae-bob"]["delivered_bits"]) == (2, 512)
    assert saes["sae-relay"]["delivered_keys"] == 0
    paths = {p["label"]: p for p in after["paths"]}
    assert paths["sae-alice → sae-bob"]["nodes"] == ["alice", "relay", "bob"]
    assert paths["sae-alice → sae-bob"]["links"] == ["ar", "rb"]
    assert paths["sae-alice → sae-bob"]["keys"] == 2
    assert "sae-alice → sae-relay" not in paths  # a key between neighbours shows its path once delivered
    store.deliver(kme_id="kme-relay", slave_sae="sae-relay", master_sae="sae-alice", key_ids=[direct[0].key_id])
    paths = {p["label"]: p for p in source.state()["paths"]}
    assert paths["sae-alice → sae-relay"]["links"] == ["ar"]
    assert json.loads(json.dumps(after)) == after  # plain JSON


def test_an_attack_on_a_live_link_shows_as_the_networks_alarm(attacked_feeder: NetworkFeeder) -> None:
    source = live_source(attacked_feeder, attacked_feeder.store, topology_of(attacked_feeder.scenario))
    attacked_feeder.advance(ATTACK_FROM_S)
    assert source.state()["alarms"] == []
    attacked_feeder.advance(ATTACK_FROM_S + 180.0)
    state = source.state()
    assert [(a["link"], a["kind"], a["active"]) for a in state["alarms"]] == [("rb", "eavesdropping", True)]
    assert state["alarms"][0]["raised_s"] == ATTACK_FROM_S + 60.0  # the end of the first attacked block
    assert [(a.link, a.raised_s) for a in attacked_feeder.alarms] == [("rb", ATTACK_FROM_S + 60.0)]
    rb = next(link for link in state["links"] if link["id"] == "rb")
    assert rb["qber"] > 0.2  # intercept-resend of every photon: 25 % on top of the link's own


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_a_run_folder_replays_its_series_step_by_step(run_folder: Path) -> None:
    run = RunOutput.load(run_folder)
    rows = _csv(run_folder / "links.csv")
    assert run.times_s == [60.0 * i for i in range(1, 11)]
    for step in (0, 4, 9):
        state = run.state(step)
        assert state["time_s"] == run.times_s[step]
        assert (state["step"], state["steps"]) == (step, 10)
        for link in state["links"]:
            mine = [r for r in rows if r["link"] == link["id"]]
            assert link["pool_bits"] == float(mine[step]["pool_bits"])
            made = float(mine[step]["generated_bits"]) - (float(mine[step - 1]["generated_bits"]) if step else 0.0)
            assert link["rate_bps"] == pytest.approx(made / 60.0)
    last = run.state()
    assert last["step"] == 9 == run.state(10**6)["step"]
    assert {n["id"] for n in last["nodes"]} == {"alice", "relay", "bob"}
    assert last["paths"] == [
        {"label": "ab", "nodes": ["alice", "relay", "bob"], "links": ["ar", "rb"], "bits": pytest.approx(600000.0)}
    ]
    assert last["demands"][0]["delivered_bits"] == float(_csv(run_folder / "demands.csv")[-1]["delivered_bits"])
    assert last["alarms"] == []
    assert "summary.json" in last["files"]


def test_a_runs_alarms_come_from_its_summary_by_their_time(run_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "attacked"
    shutil.copytree(run_folder, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["alarms"] = [
        {"link": "ar", "detected_as": "eavesdropping", "raised_s": 300.0, "cleared_s": None, "reason": "QBER"},
        "not an alarm",
    ]
    (folder / "summary.json").write_text(json.dumps(summary))
    run = RunOutput.load(folder)
    assert run.state(3)["alarms"] == []  # at 240 s
    assert [(a["link"], a["kind"]) for a in run.state(4)["alarms"]] == [("ar", "eavesdropping")]


def test_a_sweep_folder_gives_its_study_and_table(sweep_folder: Path) -> None:
    state = SweepOutput.load(sweep_folder).state()
    assert state["title"] == "efficiency"
    assert state["description"] == "key against detector efficiency"
    assert state["columns"] == ["detector.efficiency", "seed", "key_rate_per_pulse"]
    assert state["rows"] == [[0.1, 1, 5e-4], [0.2, 1, None]]  # NaN is not JSON
    assert state["total_rows"] == 2
    assert state["metadata"]["qinternet.version"]


def test_a_folder_of_outputs_lists_them_and_names_the_unreadable(run_folder: Path, sweep_folder: Path) -> None:
    (run_folder.parent / "broken").mkdir(exist_ok=True)
    (run_folder.parent / "broken" / "summary.json").write_text("{not json")
    found, broken = find_outputs(run_folder.parent)
    assert {name: o.kind for name, o in found.items()} == {"three-sites": "run", "efficiency": "sweep"}
    assert list(broken) == ["broken"]
    only, _ = find_outputs(run_folder)
    assert list(only) == ["three-sites"]


@pytest.mark.parametrize("make", ["empty", "file", "missing", "broken"])
def test_a_dir_without_outputs_is_refused_naming_it(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "dir"
    if make == "empty":
        (folder / "sub").mkdir(parents=True)
    elif make == "file":
        folder.write_text("x")
    elif make == "broken":
        folder.mkdir()
        (folder / "summary.json").write_text("[]")
    with pytest.raises(ParameterError) as error:
        find_outputs(folder)
    assert error.value.field == "DIR"


def test_the_app_serves_outputs_and_refuses_paths_outside_them(run_folder: Path, sweep_folder: Path) -> None:
    with serving(create_dashboard_app(run_folder.parent)) as url, httpx.Client(base_url=url) as client:
        _check_routes(client)


def _check_routes(client: httpx.Client) -> None:
    info = client.get("/api/info").json()
    assert info["mode"] == "outputs"
    assert {o["name"] for o in info["outputs"]} >= {"three-sites", "efficiency"}
    assert client.get("/api/state").status_code == 404
    assert client.get("/api/outputs/three-sites", params={"step": 2}).json()["step"] == 2
    assert client.get("/api/outputs/nothing").status_code == 404
    assert client.get("/api/outputs/three-sites", params={"step": -1}).status_code == 422
    assert client.get("/files/three-sites/summary.json").json()["scenario"] == "three-sites"
    for bad in ("..%2Fefficiency%2Fresults.parquet", ".hidden.json", "kms.db", "nothing.png"):
        assert client.get(f"/files/three-sites/{bad}").status_code == 404, bad
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/dashboard.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another server
    assert client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert "svg#map" in client.get("/static/dashboard.css").text
