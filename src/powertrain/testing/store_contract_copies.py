"""The store contract's rules 6 and 12 as tests, a class ``StoreContract`` takes in: a copied run (a
merge) replaces what its own store replaced, and names no backend keeps are refused alike."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from powertrain.errors import PowertrainError
from powertrain.records import CENSORED, FAILED, REACHED, RUNNING, Verdict
from powertrain.testing.store_fixtures import PROVENANCE, begin, outcome, point, spec


class CopyContract:
    def test_a_copy_taken_while_the_run_ran_is_replaced_by_its_finished_copy(self, store):
        from powertrain.store.memory import MemoryStore

        with MemoryStore() as src:  # a merge while the run ran, then another once it finished
            src.save_study("st", {})
            run_id = begin(src)
            src.add_eval_point(run_id, point(0))
            store.save_study("st", {})
            assert store.copy_run(src.run(run_id), src.eval_points(run_id)) is not None
            src.add_eval_point(run_id, point(1, 0.9))
            src.finish_run(run_id, outcome())
            finished = src.run(run_id)
        new_id = store.copy_run(finished, [point(0), point(1, 0.9)])
        assert new_id is not None and store.copy_run(finished, [point(0)]) is None
        (copied,) = store.runs("st")
        assert (copied.id, copied.status, copied.outcome) == (new_id, REACHED, finished.outcome)
        assert store.eval_points(new_id) == [point(0), point(1, 0.9)]

    @pytest.mark.parametrize(
        "ended", [(FAILED, None), (CENSORED, Verdict.RUNG_PAUSE)], ids=["failed", "paused"]
    )
    def test_a_copied_attempt_replaces_the_copy_of_the_one_it_replaced_in_its_store(
        self, store, ended
    ):
        # a merge of a store whose run failed (or a search paused), another once it was run again
        # (--retry-failed, a take-on): the key holds the later attempt alone, as its store does
        from powertrain.store.memory import MemoryStore

        with MemoryStore() as src:
            src.save_study("st", {})
            first = begin(src)
            src.finish_run(first, outcome(*ended))
            earlier = src.run(first)
            time.sleep(0.01)
            again = begin(src, replace_failed=True, replace_censored=True)
            src.add_eval_point(again, point(0))
            src.finish_run(again, outcome())
            later = src.run(again)
        store.save_study("st", {})
        assert store.copy_run(earlier, []) is not None
        new_id = store.copy_run(later, [point(0)])
        assert [(r.id, r.status) for r in store.runs("st")] == [(new_id, REACHED)]
        assert store.copy_run(earlier, []) is None  # an older snapshot merged after it: nothing
        assert [r.id for r in store.runs("st")] == [new_id]

    def test_a_run_this_store_is_running_is_never_replaced_by_a_copy(self, store):
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        finished = replace(store.run(run_id), status=REACHED, outcome=outcome())
        assert store.copy_run(finished, [point(0), point(1)]) is None
        assert store.run(run_id).status == RUNNING and store.eval_points(run_id) == [point(0)]

    def test_a_run_whose_process_is_gone_gives_way_to_its_finished_copy(self, store):
        """A process that could not write its run's end (its store locked) kept the run whole in a
        store of its own; merged back once that process is gone, it replaces the unfinished one."""
        from powertrain.store.claims import Owner

        me = store.owner
        store.owner = Owner(me.host, me.pid, me.started_at - 1000)  # a process since gone
        store.save_study("st", {})
        run_id = begin(store)
        store.owner = me
        finished = replace(store.run(run_id), status=REACHED, outcome=outcome())
        new_id = store.copy_run(finished, [point(0), point(1, 0.9)])
        assert new_id is not None and [r.status for r in store.runs("st")] == [REACHED]
        assert len(store.eval_points(new_id)) == 2

    @pytest.mark.parametrize("field", ["study", "run_key"])
    def test_a_name_holding_a_nul_character_is_refused_alike_and_nothing_is_written(
        self, store, field
    ):
        with pytest.raises(PowertrainError, match="NUL"):
            store.save_study("st\x00x", {})
        store.save_study("st", {})
        names = {"study": "st", "key": "k1", field.replace("run_", ""): "a\x00b"}
        with pytest.raises(PowertrainError, match="NUL"):
            store.begin_run(spec(names["key"], study=names["study"]), {"host": "h"}, PROVENANCE)
        finished = replace(store.run(begin(store)), **{field: "a\x00b"}, outcome=outcome())
        with pytest.raises(PowertrainError, match="NUL"):
            store.copy_run(replace(finished, status=REACHED), [point(0)])
        assert [s["name"] for s in store.studies()] == ["st"] and len(store.runs()) == 1
