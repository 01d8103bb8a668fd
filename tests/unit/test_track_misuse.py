"""track() used in ways it was not meant for: a second track() of the run in progress, evaluations
from several threads, steps that go back, integers the store cannot hold. Each is one clear
PowertrainError, and nothing recorded is lost."""

from __future__ import annotations

import threading

import pytest

from powertrain import PowertrainError
from powertrain.records import REACHED
from powertrain.store.memory import MemoryStore
from powertrain.store.sqlite import SqliteStore
from tests.unit import test_track

store, meters, tracked = test_track.store, test_track.meters, test_track.tracked  # fixtures


def test_tracking_the_run_in_progress_again_is_refused_and_the_outer_run_goes_on(
    store, meters, clock
):
    with tracked(store, meters) as outer:
        clock.advance(1.0)
        outer.evaluate(val_accuracy=0.5, step=1)
        with (
            pytest.raises(PowertrainError, match="being tracked already in this process"),
            tracked(store, meters),
        ):
            pass
        clock.advance(1.0)
        outer.evaluate(val_accuracy=0.95, step=2)
    [record] = store.runs("mine")
    assert record.status == REACHED and len(store.eval_points(record.id)) == 2
    with tracked(store, meters, seed=1) as again:  # released: the same process may track more
        again.evaluate(val_accuracy=0.95, step=1)


def test_every_rank_refuses_the_run_in_progress_again_not_rank_0_alone(store, meters, monkeypatch):
    """Rank 1 of a job refuses a nested track() of its run as rank 0 does, at once: alone, it would
    wait for rank 0 at the inner block's first evaluate, and fail the outer run after the timeout."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with tracked(store, meters) as outer:
        with (
            pytest.raises(PowertrainError, match="being tracked already in this process"),
            tracked(store, meters),
        ):
            pass
        assert outer.outcome is None
    with tracked(store, meters):  # released
        pass


def test_the_same_run_through_two_store_objects_on_one_file_is_refused(tmp_path, meters, clock):
    db = tmp_path / "r.db"
    with tracked(db, meters) as outer:
        with pytest.raises(PowertrainError, match="being tracked already"):
            tracked(db, meters).start()
        outer.evaluate(val_accuracy=0.95, step=1)
    with SqliteStore(db) as store:
        [record] = store.runs("mine")
        assert record.status == REACHED and len(store.eval_points(record.id)) == 1


def test_a_different_run_inside_a_block_is_fine(store, meters, clock):
    with tracked(store, meters) as outer:
        with tracked(store, meters, setup={"lr": 0.2}) as inner:
            inner.evaluate(val_accuracy=0.95, step=1)
        outer.evaluate(val_accuracy=0.95, step=1)
    assert [r.status for r in store.runs("mine")] == [REACHED, REACHED]


@pytest.mark.parametrize("db", ["memory", "sqlite"])
def test_evaluations_from_several_threads_are_all_stored(tmp_path, meters, clock, db):
    target = MemoryStore() if db == "memory" else tmp_path / "r.db"
    threads, per_thread = 6, 25
    with tracked(target, meters, target=0.999) as run:
        barrier = threading.Barrier(threads)

        def evaluate() -> None:
            barrier.wait()
            for _ in range(per_thread):
                run.evaluate(val_accuracy=0.5)

        workers = [threading.Thread(target=evaluate) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    store = target if db == "memory" else SqliteStore(target)
    [record] = store.runs("mine")
    points = store.eval_points(record.id)
    assert len(points) == len(run.points) == threads * per_thread
    assert [p.index for p in points] == list(range(threads * per_thread))


@pytest.mark.parametrize(("first", "then"), [(10, 9), (1000, 0), (5, 4)])
def test_steps_that_go_back_are_refused_and_the_points_before_kept(store, meters, first, then):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.4, step=first)
        with pytest.raises(PowertrainError, match=f"step {then} is before .* step {first}"):
            run.evaluate(val_accuracy=0.5, step=then)
        run.evaluate(val_accuracy=0.6, step=first)  # the same step again is allowed
    [record] = store.runs("mine")
    assert [p.step for p in store.eval_points(record.id)] == [first, first]


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [({"seed": 2**70}, "seed"), ({"seed": -(2**63) - 1}, "seed"), ({"seed": 2**63}, "seed")],
)
def test_integers_beyond_the_stores_are_refused_before_anything_runs(store, meters, kwargs, what):
    with pytest.raises(PowertrainError, match=f"{what} must fit in 64 bits"):
        tracked(store, meters, **kwargs)
    assert store.runs() == []


@pytest.mark.parametrize("field", ["step", "samples_seen"])
def test_an_evaluation_with_a_count_beyond_64_bits_is_refused(store, meters, field):
    with tracked(store, meters) as run:
        with pytest.raises(PowertrainError, match=f"{field} must fit in 64 bits"):
            run.evaluate(val_accuracy=0.5, **{field: 2**64})
        run.evaluate(val_accuracy=0.5)
    assert len(store.eval_points(store.runs("mine")[0].id)) == 1


def test_a_read_only_folder_for_track_is_called_read_only_not_foreign(tmp_path, meters):
    from tests.unit.test_store_open import read_only

    folder = tmp_path / "shared"
    folder.mkdir()
    with (
        read_only(folder),
        pytest.raises(PowertrainError, match="its folder is read-only") as info,
    ):
        tracked(folder / "r.db", meters).start()
    assert "not a powertrain results store" not in str(info.value)


class Refusing(MemoryStore):
    """A store that refuses every run's outcome, as a full disk or a lost server does."""

    def finish_run(self, run_id, outcome):
        raise OSError("disk full")


def test_the_users_exception_goes_on_unchanged_when_its_run_cannot_be_recorded(meters, caplog):
    """A store that refuses the outcome does not put powertrain's error in place of the exception
    that ended the block: that one goes up as it was, and the refusal is said beside it."""

    class UsersOwn(Exception):
        pass

    with pytest.raises(UsersOwn, match="the loop's own"), tracked(Refusing(), meters):
        raise UsersOwn("the loop's own")
    assert "disk full" in caplog.text


def test_a_store_that_refuses_the_outcome_does_not_end_the_script(meters, clock, caplog):
    """The training is over when the store refuses its outcome: the script goes on (it may save its
    model after the block), the outcome is in ``run.outcome``, and the warning says once what was
    not recorded, with its figures, where there is no file to keep it beside."""
    with tracked(Refusing(), meters) as run:
        clock.advance(2.0)
        run.evaluate(val_accuracy=0.95)
    assert run.outcome.status == REACHED and run.outcome.total_energy_j == pytest.approx(20.0)
    [said] = [r.getMessage() for r in caplog.records if "disk full" in r.getMessage()]
    assert f"refused the end of run {run.run_id}" in said and "20.0 J (an ESTIMATE)" in said
    assert "in memory has no file to keep it beside" in said


def test_a_fault_in_keeping_a_refused_end_does_not_end_the_script(
    meters, clock, caplog, monkeypatch
):
    """A refusal the store's own trouble does not make (another process took the run over), whose
    keeping beside the store then fails in an unforeseen way: still a warning with the figures."""
    from powertrain.store.pending import Pending

    class TakenOver(MemoryStore):
        def finish_run(self, run_id, outcome):
            raise PowertrainError("run taken over by another process")

    def breaks(*args, **kwargs):
        raise RuntimeError("the keeping broke")

    monkeypatch.setattr(Pending, "keep", breaks)
    with tracked(TakenOver(), meters) as run:
        clock.advance(2.0)
        run.evaluate(val_accuracy=0.95)
    [said] = [r.getMessage() for r in caplog.records if "taken over" in r.getMessage()]
    assert "the keeping broke" in said and "20.0 J (an ESTIMATE) over 1 evaluations" in said


def test_a_refused_outcome_is_kept_beside_a_file_store(tmp_path, meters, caplog):
    """A SQLite store that refuses the outcome: the whole run is kept beside its file, the warning
    names it and the command that merges it back, and a track() of the run later finds it done."""

    class RefusingFile(SqliteStore):
        refuse = True

        def finish_run(self, run_id, outcome):
            if self.refuse:
                raise OSError("disk full")
            super().finish_run(run_id, outcome)

    db = RefusingFile(tmp_path / "runs.db")
    with tracked(db, meters) as run:
        run.evaluate(val_accuracy=0.95)
    [kept] = tmp_path.glob("runs.unrecorded-*.db")
    assert "powertrain merge" in caplog.text and kept.name in caplog.text
    with pytest.raises(PowertrainError, match="already finished"):
        tracked(db, meters).__enter__()
    db.close()
    with SqliteStore(kept) as side:  # merged back once this process has ended
        [whole] = side.runs("mine")
        assert whole.status == REACHED and len(side.eval_points(whole.id)) == 1


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), -1])
def test_an_epoch_that_is_not_finite_or_below_zero_is_refused_and_not_stored(store, meters, epoch):
    with tracked(store, meters) as run:
        with pytest.raises(PowertrainError, match="epoch must be a finite number, 0 or more"):
            run.evaluate(val_accuracy=0.5, epoch=epoch)
        run.evaluate(val_accuracy=0.5, epoch=0.5)
    [record] = store.runs("mine")
    assert [p.epoch for p in store.eval_points(record.id)] == [0.5]


def test_epochs_that_go_back_are_refused_and_the_points_before_kept(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.4, epoch=2.5)
        with pytest.raises(PowertrainError, match=r"epoch 1\.5 is before .* epoch 2\.5"):
            run.evaluate(val_accuracy=0.5, epoch=1.5)
        with pytest.raises(PowertrainError, match=r"no epoch was given.*defaulted.*\(2\)"):
            run.evaluate(val_accuracy=0.5)
        run.evaluate(val_accuracy=0.6, epoch=2.5)  # the same epoch again is allowed
    [record] = store.runs("mine")
    assert [p.epoch for p in store.eval_points(record.id)] == [2.5, 2.5]


def test_a_step_left_out_after_steps_given_says_it_defaulted_not_a_step_never_passed(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.4, step=3, epoch=1)
        run.evaluate(val_accuracy=0.5, step=4, epoch=2)
        with pytest.raises(PowertrainError) as info:
            run.evaluate(val_accuracy=0.6, epoch=3)
        message = str(info.value)
        assert "no step was given, so it defaulted to the number of evaluations (3)" in message
        assert "previous evaluation's step 4" in message and "at every evaluation" in message
        assert "step 3 is before" not in message
    [record] = store.runs("mine")
    assert [p.step for p in store.eval_points(record.id)] == [3, 4]


def test_a_bad_test_accuracy_names_the_argument_test_was_given(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.95)
        with pytest.raises(PowertrainError) as info:
            run.test("0.9")
        assert "test()" in str(info.value) and "val_accuracy" not in str(info.value)
    assert store.runs("mine")[0].outcome.test_accuracy is None


def test_a_step_given_below_a_counted_one_says_the_earlier_was_counted(store, meters):
    with tracked(store, meters) as run:
        run.evaluate(val_accuracy=0.4, epoch=0.5)  # step left out: counted, 1
        with pytest.raises(PowertrainError) as info:
            run.evaluate(val_accuracy=0.5, step=0, epoch=1)
        message = str(info.value)
        assert (
            "step 0 is before the previous evaluation's step 1 (the number of evaluations"
            in message
        )
        assert "at every evaluation of a run, or at none" in message
    [record] = store.runs("mine")
    assert [p.step for p in store.eval_points(record.id)] == [1]
