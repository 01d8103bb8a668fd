"""The live search's sink (``search/sink.py``): what a search killed at any moment leaves in the
store. A run the search stopped is a finished lower bound at once, so that a killed search's next
``run`` feeds it from the store instead of training it again from scratch."""

from __future__ import annotations

from powertrain.records import CENSORED, REACHED, EvalPoint, RunOutcome, Verdict
from powertrain.search.sink import DeferringSink, Tagged
from powertrain.search.space import Trial
from powertrain.store import open_store
from powertrain.study.execute import StoreSink
from powertrain.study.plan import plan
from powertrain.study.resume import StudyPlace
from tests.unit.test_resume import study


def point(energy_j: float) -> EvalPoint:
    return EvalPoint(0, 10, 0.5, 320, 1.0, 0.5, 1.0, {"cpu": energy_j})


def ended(status, verdict, energy_j: float) -> RunOutcome:
    return RunOutcome(
        status, "bound: passed", energy_j, {"cpu": energy_j}, 1.0, 10, verdict=verdict
    )


def stopped_by_the_search(sink, spec, trial) -> int:
    fired = Tagged(lambda p: None)
    fired.fired = "bound: passed"  # the search's handler ended it
    sink.start(spec, trial, [fired])
    run_id = sink.begin(spec, {}, {})
    sink.eval_point(run_id, point(2.0))
    sink.finish(run_id, ended(CENSORED, Verdict.SEARCH_BOUND, 2.0))
    return run_id


def test_a_run_the_search_stopped_is_in_the_store_before_the_search_ends(tmp_path):
    # it was finished only when the search ended: a search killed before (kill -9) left it
    # "running", and the next run trained it again from scratch, every stop a killed search had
    # made lost (a thompson search killed four times near its end kept 2 of its 8 runs)
    s = study()
    (spec,) = plan(s, [])
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        sink = DeferringSink(StoreSink(store), StudyPlace(s, tmp_path))
        stopped_by_the_search(sink, spec, Trial("lr", spec.seed))
        (record,) = store.runs()  # killed here: the stop is kept
        assert record.status == CENSORED and record.outcome.verdict is Verdict.SEARCH_BOUND
        assert len(store.eval_points(record.id)) == 1


def test_a_stopped_run_begun_again_replaces_its_stop_only_when_it_finishes(tmp_path):
    s = study()
    (spec,) = plan(s, [])
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        sink = DeferringSink(StoreSink(store), StudyPlace(s, tmp_path))
        trial = Trial("lr", spec.seed)
        first = stopped_by_the_search(sink, spec, trial)
        trial.ended(ended(CENSORED, Verdict.SEARCH_BOUND, 2.0), sink.points[spec.run_key])
        assert sink.start(spec, trial, [Tagged(lambda p: None)]) is None  # the confirmation's
        assert trial.earlier_j == 2.0  # the stopped attempt, counted as superseded
        again = sink.begin(spec, {}, {})
        assert {r.id: r.status for r in store.runs()}[first] == CENSORED  # kept till then
        sink.eval_point(again, point(3.0))
        sink.finish(again, ended(REACHED, Verdict.TARGET, 3.0))
        sink.flush()
        (record,) = store.runs()
        assert record.id == again and record.status == REACHED


def test_a_run_a_predicted_stop_ended_can_be_begun_again_by_the_confirmation(tmp_path):
    # a predicted miss (the study's predict_stop, not the search's own handler) is a stop by the
    # search too: the confirmation that begins its seed again once met "has already finished"
    s = study()
    (spec,) = plan(s, [])
    with open_store(tmp_path / "r.db") as store:
        store.save_study(s.name, s.to_dict())
        sink = DeferringSink(StoreSink(store), StudyPlace(s, tmp_path))
        trial = Trial("lr", spec.seed)
        sink.start(spec, trial, [Tagged(lambda p: None)])  # the search's handler does not fire
        run_id = sink.begin(spec, {}, {})
        sink.eval_point(run_id, point(2.0))
        sink.finish(run_id, ended(CENSORED, Verdict.PREDICTED_MISS, 2.0))
        trial.ended(ended(CENSORED, Verdict.PREDICTED_MISS, 2.0), sink.points[spec.run_key])
        assert trial.stopped  # a lower bound: the confirmation runs it again
        sink.start(spec, trial, [Tagged(lambda p: None)])
        again = sink.begin(spec, {}, {})
        sink.finish(again, ended(REACHED, Verdict.TARGET, 3.0))
        (record,) = store.runs()
        assert record.id == again and record.status == REACHED
