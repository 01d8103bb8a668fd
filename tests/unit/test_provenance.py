"""Provenance is a type end to end (meter -> trace -> store -> record), and one function labels a
figure measured or estimated everywhere."""

from __future__ import annotations

from powertrain.meters.base import Component, Method, Provenance, measurement_label, method_label
from powertrain.monitor import Monitor
from powertrain.records import RunRecord
from powertrain.trace import read_trace
from tests.fakes.meters import ConstantPowerMeter

COUNTER = Provenance("nvml", Method.COUNTER, False, {"gpu": "H100"})
ESTIMATE = Provenance("estimate", Method.ESTIMATE, True)


def test_provenance_round_trips_through_a_dict_and_a_trace(tmp_path, clock):
    assert Provenance.from_dict(COUNTER.to_dict()) == COUNTER
    assert Provenance.from_dict(COUNTER.to_dict()).details == {"gpu": "H100"}
    meter = ConstantPowerMeter(Component.CPU, 50.0, clock, Method.ESTIMATE)
    monitor = Monitor([meter], trace_path=str(tmp_path / "t.trace"), sample=False, clock=clock)
    monitor.start()
    clock.advance(0.1)
    monitor._record(monitor._snapshot())
    monitor.stop()
    recorded = read_trace(tmp_path / "t.trace").components["cpu"]
    assert Provenance.from_dict(recorded) == meter.provenance


def test_one_labeller_for_a_component_a_run_and_a_bare_figure():
    assert COUNTER.label() == measurement_label(COUNTER) == "measured: nvml/counter"
    assert ESTIMATE.label() == "ESTIMATE: estimate/estimate"
    per_component = {"gpu": COUNTER.to_dict(), "cpu": ESTIMATE.to_dict()}
    assert measurement_label(per_component) == "ESTIMATE (gpu counter, cpu estimate)"
    assert measurement_label({"gpu": COUNTER.to_dict()}) == "measured (gpu counter)"
    assert measurement_label(estimated=True) == "ESTIMATE"
    assert measurement_label(estimated=False) == "measured"
    run = RunRecord(1, "s", "k", {}, {}, 0, "reached", {}, per_component, 0.0)
    assert run.method_label == measurement_label(per_component) and run.estimated
    assert run.provenances == {"gpu": COUNTER, "cpu": ESTIMATE}


def test_a_counters_sum_another_node_estimated_is_never_labelled_counter_alone():
    # rank 0's node read RAPL, another node only estimated its CPU: the run's CPU figure is a sum
    # with an estimate in it (``records.with_nodes``), its method ``counter+estimate``
    from powertrain.records import with_nodes

    rapl = {"cpu": {"meter": "rapl", "method": "counter", "estimated": False, "details": {}}}
    nodes = [
        {"node": 0, "host": "a", "method": {"cpu": "counter"}, "estimated": {"cpu": False}},
        {"node": 1, "host": "b", "method": {"cpu": "estimate"}, "estimated": {"cpu": True}},
    ]
    mixed = with_nodes(rapl, nodes)
    assert method_label(mixed["cpu"]) == "counter+estimate"
    assert measurement_label(mixed) == "ESTIMATE (cpu counter+estimate)"
    assert method_label(rapl["cpu"]) == "counter"  # one node: as it was
    assert method_label(ESTIMATE) == "estimate"  # an estimate's own method is not doubled
    split = Provenance("rapl+split", Method.APPORTIONED, True)
    assert method_label(split) == "apportioned"  # an estimate by its method already
