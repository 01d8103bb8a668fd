"""The results store contract as a pytest class (as Optuna ships its storage tests). A backend's tests
subclass it and override the ``store`` fixture; every backend passes the same suite::

    from powertrain.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            with MyStore(tmp_path / "results") as s:
                yield s

The default fixture is the in-memory reference store. Needs pytest (a test dependency).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from powertrain.errors import PowertrainError
from powertrain.meters.base import Provenance
from powertrain.records import (
    CENSORED,
    FAILED,
    REACHED,
    RUNNING,
    Stage,
    Verdict,
)
from powertrain.store.claims import Owner, RunClaimed
from powertrain.store.rows import MAX_MESSAGE_BYTES
from powertrain.testing.store_contract_copies import CopyContract
from powertrain.testing.store_fixtures import (  # noqa: F401 - the names the contract's users import
    PROVENANCE,
    Request,
    begin,
    outcome,
    point,
    spec,
)


class StoreContract(CopyContract):
    @pytest.fixture
    def store(self):
        from powertrain.store.memory import MemoryStore

        with MemoryStore() as s:
            yield s

    def test_study_config_is_saved_and_replaced(self, store):
        store.save_study("st", {"a": 1})
        store.save_study("st", {"a": 2})
        (study,) = store.studies()
        assert study["name"] == "st" and study["config"] == {"a": 2}

    def test_a_run_round_trips(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        store.add_eval_point(run_id, point(1, 0.95))
        store.save_timeline(run_id, {"t_s": [0, 1], "energy_j": {"cpu": [0, 3]}})
        store.finish_run(run_id, outcome())
        (run,) = store.runs("st")
        assert run.status == REACHED and run.outcome == outcome()
        assert run.setup == {"learning_rate": 0.1} and run.train["batch_size"] == 8
        assert run.estimated and "cpu estimate" in run.method_label
        assert store.eval_points(run_id) == [point(0), point(1, 0.95)]
        assert store.timeline(run_id)["energy_j"]["cpu"] == [0, 3]

    def test_a_pricing_windows_span_round_trips_and_an_outcome_without_one_has_none(self, store):
        store.save_study("st", {})
        paused = outcome(CENSORED, Verdict.RUNG_PAUSE)
        priced = replace(paused, priced_steps=8, priced_energy_j=3.5)  # of its 11 J
        for key, finished in (("k1", priced), ("k2", paused)):
            store.finish_run(begin(store, key), finished)
        runs = {r.run_key: r.outcome for r in store.runs("st")}
        assert runs == {"k1": priced, "k2": paused}
        assert (runs["k2"].priced_steps, runs["k2"].priced_energy_j) == (None, None)

    def test_status_stage_and_provenance_come_back_typed(self, store):
        store.save_study("st", {})
        run_id = begin(store, stage=Stage.PRETRAIN)
        store.finish_run(run_id, outcome(CENSORED))
        (run,) = store.runs("st")
        assert run.status is CENSORED and run.outcome.status is CENSORED
        assert run.stage is Stage.PRETRAIN
        assert run.provenances["cpu"] == Provenance.from_dict(PROVENANCE["cpu"])

    def test_beginning_a_killed_run_again_removes_its_partial_rows(self, store):
        store.save_study("st", {})
        first = begin(store)
        store.add_eval_point(first, point(0))
        store.save_timeline(first, {"t_s": [0]})
        second = begin(store)
        runs = store.runs("st")
        assert [r.id for r in runs] == [second] and runs[0].status == RUNNING
        assert store.eval_points(second) == [] and store.eval_points(first) == []
        assert store.timeline(first) is None

    def test_a_finished_run_cannot_be_begun_again(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        store.finish_run(run_id, outcome(CENSORED))
        with pytest.raises(ValueError, match="already finished"):
            begin(store)
        store.finish_run(run_id, outcome(REACHED))  # a finished run never changes
        assert store.runs("st")[0].status == CENSORED

    def test_failed_runs_are_replaced_only_when_asked(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        store.finish_run(run_id, outcome(FAILED))
        with pytest.raises(ValueError):
            begin(store)
        new_id = begin(store, replace_failed=True)
        assert [r.id for r in store.runs("st")] == [new_id]

    def test_censored_runs_are_replaced_only_when_asked(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        store.finish_run(run_id, outcome(CENSORED, Verdict.RUNG_PAUSE))
        with pytest.raises(ValueError, match="already finished"):
            begin(store, replace_failed=True)
        new_id = begin(store, replace_censored=True)  # a later search continues the pause
        runs = [(r.id, r.status) for r in store.runs("st")]  # the pause stays till then
        assert runs == [(run_id, CENSORED), (new_id, RUNNING)]
        store.finish_run(new_id, outcome(REACHED))
        assert [r.id for r in store.runs("st")] == [new_id] and store.eval_points(run_id) == []
        with pytest.raises(ValueError, match="already finished"):
            begin(store, replace_censored=True)  # only a censored attempt is replaced

    def test_a_killed_take_on_leaves_the_censored_run_it_was_to_replace(self, store):
        # Nothing recorded is lost: the run a search ended is removed only with the finish of the
        # attempt that replaces it (in its transaction); one killed before leaves it as it was,
        # and the next take-on removes the killed attempt, as any killed run's.
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        store.save_timeline(run_id, {"t_s": [0]})
        store.finish_run(run_id, outcome(CENSORED, Verdict.SEARCH_BOUND))
        (earlier,) = store.runs("st")
        killed = begin(store, replace_censored=True)
        for i in (0, 1):
            store.add_eval_point(killed, point(i))
        again = begin(store, replace_censored=True)
        assert store.runs("st")[0] == earlier and [r.id for r in store.runs()] == [run_id, again]
        assert store.eval_points(run_id) == [point(0)] and store.timeline(run_id) == {"t_s": [0]}
        store.finish_run(again, paused := outcome(CENSORED, Verdict.RUNG_PAUSE))
        assert [(r.id, r.outcome) for r in store.runs("st")] == [(again, paused)]
        assert store.eval_points(run_id) == [] == store.eval_points(killed)
        assert store.timeline(run_id) is None

    def test_a_censored_run_that_ended_on_its_own_is_never_replaced(self, store):
        # Only a run a search ended is taken on: one another process ran to its own limit meanwhile
        # (a grid run planned to re-run a search's stop, finished first elsewhere) stays as it is.
        store.save_study("st", {})
        run_id = begin(store, replace_censored=True)
        store.finish_run(run_id, outcome(CENSORED, Verdict.MAX_EPOCHS))
        with pytest.raises(ValueError, match="already finished"):
            begin(store, replace_censored=True)
        assert [(r.id, r.outcome.verdict) for r in store.runs("st")] == [
            (run_id, Verdict.MAX_EPOCHS)
        ]

    def test_inference_results_round_trip_replace_and_go_with_a_killed_run(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        assert store.inference(run_id) == []
        store.save_inference(
            run_id, [{"batch_size": 64, "energy_j": 2.0}, {"batch_size": 1, "energy_j": 9.0}]
        )
        assert [r["batch_size"] for r in store.inference(run_id)] == [1, 64]
        store.save_inference(run_id, [{"batch_size": 8, "energy_j": 3.0}])
        assert store.inference(run_id) == [{"batch_size": 8, "energy_j": 3.0}]
        begin(store)  # the unfinished attempt is replaced, its measurements with it
        assert store.inference(run_id) == []

    def test_idle_baselines_are_kept_per_host_latest_first(self, store):
        assert store.idle("h") is None
        store.save_idle("h", {"measured_at": 1.0, "power_w": {"cpu": 10.0}})
        store.save_idle("h", {"measured_at": 2.0, "power_w": {"cpu": 12.0}})
        store.save_idle("other", {"measured_at": 3.0, "power_w": {"cpu": 99.0}})
        assert store.idle("h")["power_w"] == {"cpu": 12.0}
        assert [(m["host"], m["measured_at"]) for m in store.idles()] == [
            ("h", 1.0),
            ("h", 2.0),
            ("other", 3.0),
        ]

    def test_runs_are_listed_in_order_and_by_study_and_one_is_read_by_its_id(self, store):
        store.save_study("st", {})
        store.save_study("other", {})
        ids = [begin(store, key=f"k{i}", seed=i) for i in range(3)]
        other = store.begin_run(Request("other", "x", {}, {}, 0), {}, {})
        store.finish_run(ids[1], outcome())
        assert [r.id for r in store.runs("st")] == ids and len(store.runs()) == 4
        assert [store.run(i) for i in ids] == store.runs("st") and store.run(other + 1) is None

    def test_a_copied_run_keeps_everything_and_copying_again_adds_nothing(self, store):
        from powertrain.store.memory import MemoryStore

        with MemoryStore() as src:
            src.save_study("st", {})
            run_id = begin(src)
            src.add_eval_point(run_id, point(0))
            src.save_timeline(run_id, {"t_s": [0, 1]})
            src.save_inference(run_id, [{"batch_size": 1, "energy_j": 2.0}])
            src.finish_run(run_id, outcome())
            (run,) = src.runs()
        store.save_study("st", {})
        new_id = store.copy_run(run, [point(0)], {"t_s": [0, 1]}, src.inference(run_id))
        assert store.copy_run(run, [point(0)], {"t_s": [0, 1]}) is None
        (copied,) = store.runs("st")
        assert copied.id == new_id and copied.outcome == run.outcome
        assert (copied.status, copied.stage, copied.started_at) == (
            REACHED,
            Stage.TRAIN,
            run.started_at,
        )
        assert store.eval_points(new_id) == [point(0)] and store.timeline(new_id) == {"t_s": [0, 1]}
        assert store.inference(new_id) == [{"batch_size": 1, "energy_j": 2.0}]

    def test_the_store_names_its_artifacts_folder(self, store):
        # ``artifacts`` beside the default store, ``<file>-artifacts`` beside another SQLite file
        assert store.artifacts_dir.name.endswith("artifacts")

    def test_a_run_another_live_process_holds_is_refused(self, store):
        store.save_study("st", {})
        me = store.owner
        store.owner = Owner("another-host", 4242, 1.0)  # alive while its heartbeat is fresh
        begin(store)
        store.owner = me
        with pytest.raises(RunClaimed, match="being trained by process 4242 on another-host"):
            begin(store)

    def test_a_claim_whose_holder_is_gone_is_taken_over(self, store):
        store.save_study("st", {})
        me = store.owner
        store.owner = Owner("another-host", 4242, 1.0)
        begin(store)
        store.owner, store.lease_s = me, 0.0  # the other host's heartbeat is past its lease
        run_id = begin(store)
        assert [r.id for r in store.runs("st")] == [run_id]

    def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(self, store):
        store.save_study("st", {})
        me = store.owner
        store.owner = Owner(me.host, me.pid, me.started_at - 1000)  # a pid since reused
        begin(store)
        store.owner = me
        assert begin(store) == store.runs("st")[0].id

    def test_an_unfinished_copy_further_on_replaces_its_dead_attempt_once(self, store):
        """A run killed while its store was locked left its last points in a copy beside it
        (``store/pending.py``): merged back, that copy replaces the attempt it continues."""
        store.save_study("st", {})
        me = store.owner
        store.owner = Owner(me.host, me.pid, me.started_at - 1000)  # its process is gone
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        store.owner = me
        (record,) = store.runs("st")
        assert store.copy_run(record, [point(0)]) is None  # no further on: nothing added
        copied = store.copy_run(record, [point(0), point(1)])
        assert [r.id for r in store.runs("st")] == [copied]
        assert [p.index for p in store.eval_points(copied)] == [0, 1]
        assert store.copy_run(record, [point(0), point(1)]) is None  # merged twice: once
        again = begin(store)  # begun afresh since: that attempt is gone, and stays gone
        assert store.copy_run(record, [point(0), point(1), point(2)]) is None
        assert [r.id for r in store.runs("st")] == [again]

    def test_writes_in_an_atomic_block_land_whole_or_not_at_all(self, store):
        store.save_study("st", {})
        with store.atomic():
            store.add_eval_point(begin(store, "a"), point(0))
            begin(store, "b")
        assert [r.run_key for r in store.runs("st")] == ["a", "b"]
        with pytest.raises(RuntimeError), store.atomic():
            store.finish_run(begin(store, "c"), outcome())
            raise RuntimeError("the import failed half-way")
        assert [r.run_key for r in store.runs("st")] == ["a", "b"]
        assert len(store.eval_points(store.runs("st")[0].id)) == 1

    def test_the_power_limit_journal_keeps_the_first_limit_until_cleared(self, store):
        assert store.pending_power_limits() == {}
        store.note_power_limit("GPU-a", 400.0)
        store.note_power_limit("GPU-a", 250.0)  # a second run's note: 400 W is what to put back
        store.note_power_limit("GPU-b", 300.0)
        assert store.pending_power_limits() == {"GPU-a": 400.0, "GPU-b": 300.0}
        store.note_power_limit("GPU-a", None)
        assert store.pending_power_limits() == {"GPU-b": 300.0}

    def test_the_verdict_comes_back_typed_and_is_copied(self, store):
        from powertrain.store.memory import MemoryStore

        store.save_study("st", {})
        stopped = begin(store, "a")
        store.finish_run(stopped, outcome(CENSORED, Verdict.SEARCH_BOUND))
        store.finish_run(begin(store, "b"), outcome(CENSORED))  # no verdict said: its status's
        a, b = store.runs("st")
        assert a.outcome.verdict is Verdict.SEARCH_BOUND and a.outcome.verdict.by_search
        assert b.outcome.verdict is Verdict.ENDED and not b.outcome.verdict.by_search
        with MemoryStore() as out:
            out.save_study("st", {})
            out.copy_run(a, store.eval_points(a.id))
            assert out.runs("st")[0].outcome.verdict is Verdict.SEARCH_BOUND

    def test_a_search_cost_is_kept_per_study_and_replaced(self, store):
        assert store.search_costs() == {}
        store.save_search_cost("st", {"study": "st", "spent_j": 1.5, "grid_j": None})
        store.save_search_cost("other", {"study": "other", "spent_j": 2.0})
        store.save_search_cost("st", {"study": "st", "spent_j": 3.0, "grid_j": None})
        assert store.search_costs() == {
            "other": {"study": "other", "spent_j": 2.0},
            "st": {"study": "st", "spent_j": 3.0, "grid_j": None},
        }

    def test_ranks_messages_are_kept_per_channel_and_point_replaced_and_dropped(self, store):
        assert store.rank_messages("job/a", 0) == {}
        store.post_rank_message("job/a", 0, 1, {"kind": "point", "energy_j": {"cpu": 1.5}})
        store.post_rank_message("job/a", 0, 0, {"kind": "point"})
        store.post_rank_message("job/a", 1, 0, {"kind": "close"})
        store.post_rank_message("job/b", 0, 0, {"other": True})
        store.post_rank_message("job/a", 0, 1, {"kind": "point", "energy_j": {"cpu": 2.0}})
        assert store.rank_messages("job/a", 0) == {
            0: {"kind": "point"},
            1: {"kind": "point", "energy_j": {"cpu": 2.0}},
        }
        store.drop_rank_messages("job/a", before_seq=1)
        assert store.rank_messages("job/a", 0) == {}
        assert store.rank_messages("job/a", 1) == {0: {"kind": "close"}}
        store.drop_rank_messages("job/a")
        assert store.rank_messages("job/a", 1) == {}
        assert store.rank_messages("job/b", 0) == {0: {"other": True}}
        store.expire_rank_messages(older_than_s=3600)  # posted less than an hour ago: kept
        assert store.rank_messages("job/b", 0) == {0: {"other": True}}
        store.expire_rank_messages(older_than_s=-1)  # everything posted so far
        assert store.rank_messages("job/b", 0) == {}

    def test_rank_messages_expire_by_each_senders_post(self, store):
        """A message's age is its own, not that of the last post to its exchange."""
        store.post_rank_message("job/c", 0, 0, {"kind": "point"})
        time.sleep(2.0)
        store.post_rank_message("job/c", 0, 1, {"kind": "point"})
        store.expire_rank_messages(older_than_s=1.0)
        assert store.rank_messages("job/c", 0) == {1: {"kind": "point"}}

    @pytest.mark.parametrize(
        "seq, sender, body, says",
        [
            (0, 0, {"loss": float("nan")}, "not JSON"),
            (0, 0, {"gpus": {"GPU-a"}}, "not JSON"),
            (0, 0, ["point"], "must be a dict"),
            (0, 0, {1: "a"}, "text keys"),
            (0, 0, {"pad": "x" * MAX_MESSAGE_BYTES}, "at most"),
            (2**40, 0, {}, "seq must be"),
            (0, 2**40, {}, "sender must be"),
        ],
    )
    def test_a_message_no_backend_can_keep_is_refused_alike_and_nothing_is_posted(
        self, store, seq, sender, body, says
    ):
        with pytest.raises(PowertrainError, match=says):
            store.post_rank_message("job/x", seq, sender, body)
        assert store.rank_messages("job/x", 0) == {}
