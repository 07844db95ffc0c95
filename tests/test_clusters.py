"""Training clusters: node pools, the job queue's scheduling, spot preemptions with resume."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import simpy

from fleetsim.cloud.training import TrainingCluster, TrainingJob
from fleetsim.errors import ScenarioError
from fleetsim.hardware.training import attempt, checkpoint_write_seconds, compute_seconds
from fleetsim.metrics.columns import TABLE_COLUMNS
from fleetsim.metrics.events import EventLog
from fleetsim.results import _job_states
from fleetsim.scenario.cloud import Cluster
from fleetsim.scenario.loader import load_scenario
from tests.conftest import small_scenario_data, with_overrides, write_yaml

WORKLOAD = "ssd_mobilenet_v2_300"
SAMPLES, EPOCHS = 200_000, 5


def _cluster(catalog, *, pools=None, seed=0, **fields):
    """A TrainingCluster on its own SimPy environment, with its event log."""
    spec = Cluster(name="c", pools=pools, source="test values", **fields)
    env, log = simpy.Environment(), EventLog()
    devices = {p.device: catalog.devices[p.device] for p in spec.node_pools}
    return env, log, TrainingCluster(env, spec, devices, catalog.profile(WORKLOAD), log, seed)


def _submit(env, cluster, jobs: list[tuple[float, int]]):
    """Submit (time, samples) jobs, numbered from 1."""
    def later(t, job):
        yield env.timeout(t)
        yield env.process(cluster.run(job))
    for i, (t, samples) in enumerate(jobs, start=1):
        env.process(later(t, TrainingJob(job_id=i, samples=samples, epochs=EPOCHS, submitted_s=t)))


def _rows(log, table="training_jobs") -> pd.DataFrame:
    return log.frame(table, list(TABLE_COLUMNS[table])).set_index("job", drop=False) \
        if table == "training_jobs" else log.frame(table, list(TABLE_COLUMNS[table]))


def _mfu_for(catalog, device, compute_s):
    """The MFU at which one chip of ``device`` computes the test job in ``compute_s``."""
    return compute_seconds(catalog.devices[device], catalog.profile(WORKLOAD), chips=1, mfu=1.0,
                           samples=SAMPLES, epochs=EPOCHS) / compute_s


def test_an_attempt_keeps_the_checkpointed_work_and_loses_the_rest():
    done = attempt(60.0, 100.0, 40.0, 5.0)
    assert (done.held_s, done.checkpoints, done.lost_s, done.finished) == (175.0, 3, 0.0, True)
    in_compute = attempt(60.0, 100.0, 40.0, 5.0, preempt_after_s=130.0)  # checkpoint 1 ends at 105 s
    assert (in_compute.saved_s, in_compute.compute_s, in_compute.lost_s) == (40.0, 65.0, 25.0)
    in_write = attempt(60.0, 100.0, 40.0, 5.0, preempt_after_s=102.0)  # writing checkpoint 1
    assert (in_write.saved_s, in_write.compute_s, in_write.lost_s) == (0.0, 40.0, 42.0)
    in_startup = attempt(60.0, 100.0, 40.0, 5.0, preempt_after_s=50.0)
    assert (in_startup.startup_s, in_startup.compute_s, in_startup.lost_s) == (50.0, 0.0, 0.0)


@pytest.mark.parametrize("preempt_after_s", [61.0, 75.3, 99.99, 123.4567])
def test_checkpointing_ever_more_often_loses_ever_less(preempt_after_s):
    coarse = attempt(60.0, 100.0, 10.0, 0.0, preempt_after_s)
    fine = attempt(60.0, 100.0, 1e-6, 0.0, preempt_after_s)
    assert coarse.lost_s <= 10.0
    assert fine.lost_s <= 1e-6 and fine.saved_s == pytest.approx(preempt_after_s - 60.0)


def test_a_preempted_job_finishes_at_the_hand_computed_time(catalog, monkeypatch):
    """Preempted 130 s into its first stay and 50 s into its second (still in start-up)."""
    workload = catalog.profile(WORKLOAD)
    write = 5.0
    bandwidth = 12 * workload.spec.params.value / write
    env, log, cluster = _cluster(catalog, pools=[{
        "name": "spot", "device": "a100", "chips": 1, "capacity": "spot",
        "mfu": _mfu_for(catalog, "a100", 100.0), "startup": "60 s"}],
        checkpoint_interval="40 s", checkpoint_bandwidth=f"{bandwidth} B/s")
    assert checkpoint_write_seconds(workload, cluster.spec.checkpoint_bandwidth) == pytest.approx(write)
    after = iter([130.0, 50.0, math.inf])
    monkeypatch.setattr(cluster, "preemption_after_s", lambda job, pool: next(after))
    _submit(env, cluster, [(0.0, SAMPLES)])
    env.run()
    job = _rows(log).loc[1]
    # stay 1: 60 start-up + 40 compute + 5 checkpoint + 25 lost; stay 2: 50 of start-up;
    # stay 3: 60 start-up + the last 60 of compute in two segments, each with its 5 s checkpoint
    assert job["t_end_s"] == pytest.approx(130 + 50 + 60 + 60 + 2 * write)
    assert (job["preemptions"], job["lost_s"], job["restart_s"]) == (2, pytest.approx(25.0), 110.0)
    assert job["checkpoint_s"] == pytest.approx(3 * write)
    assert job["t_end_s"] - job["t_submit_s"] == pytest.approx(
        job["queued_s"] + 60 + 100 + job["checkpoint_s"] + job["lost_s"] + job["restart_s"])
    a100 = catalog.devices["a100"]
    assert job["cost_usd"] == pytest.approx(a100.spot.hourly_price.value * job["t_end_s"])
    compute = 65 + 60  # kept and lost compute of the stays, at active power; the rest idles
    assert job["energy_j"] == pytest.approx(
        1.1 * (a100.active_power.value * compute + a100.idle_power.value * (job["t_end_s"] - compute)))


def test_fifo_on_k_nodes_finishes_at_the_analytic_times(catalog):
    env, log, cluster = _cluster(catalog, device="a100", chips=1, concurrent_jobs=2, startup="30 s")
    duration = cluster.cost(SAMPLES, EPOCHS).duration_s
    _submit(env, cluster, [(0.0, SAMPLES)] * 5 + [(10 * duration, SAMPLES)])
    env.run()
    ends = _rows(log)["t_end_s"].to_dict()
    expected = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 11}
    assert ends == {job: pytest.approx(n * duration) for job, n in expected.items()}
    assert _rows(log)["queued_s"].to_dict()[5] == pytest.approx(2 * duration)


def test_shortest_first_runs_the_least_remaining_work_first(catalog):
    order = {}
    for scheduling in ("fifo", "shortest_first"):
        env, log, cluster = _cluster(catalog, device="a100", chips=1, scheduling=scheduling,
                                     startup="0 s")
        _submit(env, cluster, [(0.0, 4 * SAMPLES), (1.0, 3 * SAMPLES), (2.0, SAMPLES), (3.0, 2 * SAMPLES)])
        env.run()
        order[scheduling] = list(_rows(log).sort_values("t_start_s")["job"])
    assert order == {"fifo": [1, 2, 3, 4], "shortest_first": [1, 3, 4, 2]}


HETEROGENEOUS = [{"name": "gpu", "device": "a100", "chips": 1},
                 {"name": "cpu", "device": "cpu_server", "chips": 1}]


def test_fifo_takes_the_first_free_node_in_pool_order(catalog):
    env, log, cluster = _cluster(catalog, pools=HETEROGENEOUS)
    _submit(env, cluster, [(0.0, SAMPLES)] * 3)
    env.run()
    assert _rows(log)["pool"].to_dict() == {1: "gpu", 2: "cpu", 3: "gpu"}


def test_earliest_finish_waits_for_a_faster_pool_when_that_finishes_first(catalog):
    env, log, cluster = _cluster(catalog, pools=HETEROGENEOUS, scheduling="earliest_finish")
    gpu, cpu = (cluster._pool_cost(p, SAMPLES, EPOCHS).duration_s for p in cluster.pools)
    assert 2 * gpu < cpu < 3 * gpu  # so: gpu, gpu after the first, then cpu
    _submit(env, cluster, [(0.0, SAMPLES)] * 3)
    env.run()
    rows = _rows(log)
    assert rows["pool"].to_dict() == {1: "gpu", 2: "gpu", 3: "cpu"}
    assert rows["t_end_s"].to_dict() == {1: pytest.approx(gpu), 2: pytest.approx(2 * gpu),
                                         3: pytest.approx(cpu)}


def test_the_budget_estimate_is_priced_on_the_pool_the_job_would_get(catalog):
    env, log, cluster = _cluster(catalog, pools=[
        {"name": "spot", "device": "h100", "chips": 1, "capacity": "spot"},
        {"name": "demand", "device": "h100", "chips": 1}])
    h100 = catalog.devices["h100"]
    first = cluster.cost(SAMPLES, EPOCHS)
    assert first.cost_usd == pytest.approx(h100.spot.hourly_price.value * first.duration_s)
    _submit(env, cluster, [(0.0, SAMPLES)])
    env.run(until=1.0)  # the spot node is now busy: a new job would go on demand
    second = cluster.cost(SAMPLES, EPOCHS)
    assert second.cost_usd == pytest.approx(h100.hourly_price.value * second.duration_s)


def test_every_submitted_job_is_counted_at_the_horizon(catalog):
    env, log, cluster = _cluster(catalog, device="a100", chips=1, startup="30 s")
    duration = cluster.cost(SAMPLES, EPOCHS).duration_s
    _submit(env, cluster, [(0.0, SAMPLES)] * 4)
    env.run(until=1.5 * duration)
    states = _job_states(_rows(log, "training_events"))
    assert (len(_rows(log)), states["jobs_running"], states["jobs_queued"]) == (1, 1, 2)
    assert states["jobs_submitted"] == 4 == len(_rows(log)) + states["jobs_running"] + states["jobs_queued"]


def _preemptions(catalog, seed):
    env, log, cluster = _cluster(catalog, seed=seed, pools=[
        {"name": "spot", "device": "a100", "chips": 1, "nodes": 2, "capacity": "spot",
         "preemption_rate": "20 / h", "restock": "1 min"}], startup="30 s")
    _submit(env, cluster, [(0.0, 20 * SAMPLES), (0.0, 20 * SAMPLES), (60.0, 10 * SAMPLES)])
    env.run()
    events = _rows(log, "training_events")
    return events, _rows(log)


def test_preemptions_come_from_the_seed(catalog):
    events, jobs = _preemptions(catalog, seed=7)
    again, _ = _preemptions(catalog, seed=7)
    other, _ = _preemptions(catalog, seed=8)
    preempted = events[events["event"] == "preempted"]
    assert len(preempted) > 2 and jobs["preemptions"].sum() == len(preempted)
    pd.testing.assert_frame_equal(events, again)
    assert list(other[other["event"] == "preempted"]["t_s"]) != list(preempted["t_s"])
    assert jobs["lost_s"].sum() == pytest.approx(preempted["lost_s"].sum())
    states = _job_states(events)
    assert (states["preemptions"], states["jobs_running"], states["jobs_queued"]) == (len(preempted), 0, 0)


def test_an_on_demand_pool_is_never_preempted_and_ignores_the_seed(catalog):
    env, log, cluster = _cluster(catalog, device="h100", chips=2)
    assert cluster.preemption_after_s(TrainingJob(1, SAMPLES, EPOCHS, 0.0), cluster.pools[0]) == math.inf


def _load_error(tmp_path, catalog, **overrides) -> str:
    data = with_overrides(small_scenario_data(), **overrides)
    with pytest.raises(ScenarioError) as err:
        load_scenario(write_yaml(tmp_path, data), catalog)
    return str(err.value)


def test_pools_are_checked_against_the_catalog(tmp_path, catalog):
    pools = [{"name": "gpu", "device": "a100", "chips": 1}, {"name": "tpu", "device": "tpu_v9", "chips": 4}]
    cluster = {"name": "gpus", "pools": pools, "source": "x"}
    message = _load_error(tmp_path, catalog, cloud__clusters__0=cluster)
    assert "cloud.clusters[0].pools[1].device: unknown cloud hardware model 'tpu_v9'" in message
    assert "allowed: a100, cpu_server, h100, l4, tpu_v4" in message


def test_spot_needs_a_device_with_spot_figures(tmp_path, catalog):
    pools = [{"name": "tpu", "device": "tpu_v4", "chips": 4, "capacity": "spot"}]
    cluster = {"name": "gpus", "pools": pools, "source": "x"}
    message = _load_error(tmp_path, catalog, cloud__clusters__0=cluster)
    assert "cloud.clusters[0].pools[0].capacity: tpu_v4 has no sourced spot figures" in message
    assert "allowed: on_demand, or spot on a100, h100, l4" in message


@pytest.mark.parametrize("cluster, path, fragment", [
    ({"scheduling": "random"}, "cloud.clusters[0].scheduling",
     "allowed: 'fifo', 'shortest_first' or 'earliest_finish'"),
    ({"pools": [{"name": "p", "device": "a100", "chips": 1, "capacity": "reserved"}]},
     "cloud.clusters[0].pools[0].capacity", "allowed: 'on_demand' or 'spot'"),
    ({"pools": [{"name": "p", "device": "a100", "chips": 1, "restock": "1 min"}]},
     "cloud.clusters[0].pools[0]", "apply to spot pools only"),
    ({"device": "a100", "chips": 1, "pools": [{"name": "p", "device": "a100", "chips": 1}]},
     "cloud.clusters[0]", "give pools or the one-device shorthand, not both (remove: device, chips)"),
    ({"device": None, "chips": None}, "cloud.clusters[0]", "a cluster needs pools, or device and chips"),
])
def test_bad_cluster_fields_name_the_field_and_what_is_allowed(tmp_path, catalog, cluster, path, fragment):
    data = small_scenario_data()
    spec = {**data["cloud"]["clusters"][0], **cluster}
    spec = {k: v for k, v in spec.items() if v is not None}
    message = _load_error(tmp_path, catalog, cloud__clusters__0=spec)
    assert f"{path}: " in message and fragment in message
