"""The part of a tracked run that speaks with the other ranks of a distributed job: rank 0 leads
(gathers every rank's figures, records the point, sends the decision), the others follow. A mixin of
``core.TrackedRun``, kept apart so that the one-process run reads alone; the exchange itself is
``tracking/job.py`` (picked by ``tracking/links.py``), the adding up ``tracking/combine.py``, a run
handed to spawned processes ``tracking/spawned.py``."""

from __future__ import annotations

import contextlib
import functools
import traceback

from powertrain.errors import PowertrainError
from powertrain.records import EvalPoint, RunOutcome
from powertrain.store.pending import Pending
from powertrain.tracking import attempts, links, unrecorded
from powertrain.tracking import job as job_
from powertrain.tracking import ranks as ranks_
from powertrain.tracking import spawned as spawned_
from powertrain.tracking import store as db_
from powertrain.tracking.combine import RankReading
from powertrain.tracking.given import differs, given
from powertrain.tracking.refused_end import refused_end

_AT = "rank 0 failed at this exchange"
SHUT_DOWN = "torch.distributed was shut down (destroy_process_group) inside the tracked block"


class RankedRun:
    """What ``TrackedRun`` does in a distributed job (``self.ranks``, ``self._job``); ``spawned``:
    this process is a rank its parent spawned (``_ticket``); ``handed_over``: this process spawned
    the ranks and owns the run."""

    spawned = False
    handed_over = False
    _ticket: spawned_.SpawnTicket | None = None
    _refused: PowertrainError | None = None  # a spawned rank's hand-over found ended: said again

    @functools.cached_property
    def _waiting(self) -> Pending:
        """The points a locked store has not taken yet, and the run's end through the lock."""
        return Pending()

    @functools.cached_property
    def _unrecorded(self) -> unrecorded.Unrecorded:
        """The evaluation points the store refused, tried again when the run ends."""
        return unrecorded.Unrecorded()

    def _refuse(self, error: PowertrainError):
        """A spawned rank whose hand-over has ended records nothing, ever: its meters' sampler and
        its store are let go at once (its process may go on), and every later call says the same."""
        if self._refused is None:
            self._refused = error
            self._release()
        raise self._refused

    def close_under(self, exc: BaseException | None):
        """``close(exc)`` where ``exc`` (if any) ends the user's block: a failure to record the run
        (a store that refuses its end, say) does not go up in that exception's place, which goes on
        unchanged but for a note of why its run was not recorded."""
        try:
            return self.close(exc)
        except Exception as error:
            if exc is None or error is exc:
                raise
            exc.add_note(
                f"powertrain could not record the end of run {self.run_id} of study "
                f"{self.tracker.study!r}: {type(error).__name__}: {error}"
            )
            return None

    def _linked_job(self) -> job_.Job | None:
        """The link to the job's other ranks, looked for at the first evaluate (torch.distributed may
        come up after the block began: Lightning starts it in ``fit``); None for one process."""
        if not self._linked:  # set once linked: a refusal here is raised again at every evaluate
            info = ranks_.current()
            if info.leader != self.ranks.leader and not self.spawned:
                raise PowertrainError(
                    f"this process began the run as {self.ranks.describe()}, but is now "
                    f"{info.describe()}: enter the tracked block in every rank's own process"
                )
            self.ranks = info
            if info.leader and info.distributed and self._sigterm is None and not self.spawned:
                self._sigterm = job_.stop_on_sigterm()
            if info.leader and self.spawned:  # spawned rank 0 records into the parent's run
                try:
                    spawned_.check_in_progress(self._board_store(), self)
                except PowertrainError as ended:
                    self._refuse(ended)
            self._job = links.link(
                info,
                self.tracker.run_key,
                self.detection.meters,
                self._gpu_start_j,
                self.tracker.rank_timeout_s,
                self._board_store,
            )
            if self._job is not None:
                self._job.given = given(self.tracker)
            self._linked = True
        if self._job is not None and not self._exchanging():
            if self._job.shut_down:
                raise PowertrainError(
                    f"{SHUT_DOWN} before this run.evaluate, so the ranks can no longer exchange "
                    "their figures and stop together: shut it down after the tracked block"
                )
            raise job_.RanksLost("the link to the job's other ranks is closed; the run has ended")
        return self._job

    def _exchanging(self) -> bool:
        """Whether this rank's link to the others is open and still carried (torch.distributed may
        have been shut down under it)."""
        return self._job is not None and self._job.open and self._job.still_up()

    def _board_store(self):
        """The results store, opened here if this rank did not open it (the exchange goes through
        it, or a spawned rank 0 records into it)."""
        if self.store is None:
            self.store, self._owned_store = db_.open_db(self.tracker.db)
        return self.store

    def _add_point(self, point: EvalPoint) -> None:
        """Into the store, kept and tried again while another process holds it locked
        (``pending``; a spawned rank 0's are handed back to its parent, ``spawned.hand_back``). Any other failure to write it (a full database, a lost server) does not end
        the training either: it is said once, and the point is tried again when the run ends
        (``_unrecorded``). A spawned rank 0 whose run ended under it (its parent was stopped and
        the run begun afresh: the store refuses a point of a run it no longer holds) says so."""
        try:
            self._waiting.add(self.store, self.run_id, point)
        except Exception as error:
            if self.spawned:
                try:
                    spawned_.check_in_progress(self.store, self)
                except PowertrainError as ended:
                    self._refuse(ended)
                except Exception:  # noqa: S110 the store is away: the point waits, as below
                    pass
            self._unrecorded.note(self, point, error)

    def _lead(self, job: job_.Job, kind: str, so_far, fields: dict | None):
        """Rank 0: gather every rank's figures, record the point (or, closing, the outcome) and send
        every rank the decision; a misuse is every rank's error."""
        evaluations = len(self.points)
        messages = job.gather(kind, job.reading(so_far), evaluations)
        decision = job_.Decision(error=_AT)
        try:
            problem = job.problem(messages)
            if problem is not None:
                decision = job_.Decision(error=problem)
                raise PowertrainError(problem)
            combined = job.combine(messages)
            self._tell_nodes(combined.nodes)
            if fields is None:  # closing: the outcome is the decision, sent once it is recorded
                decision = None
                return combined
            point = self._point(fields, so_far.duration_s, combined.energy_j)
            self._record(point)
            decision = job_.Decision(point, self.status, self.stop_reason)
        except BaseException as error:  # a handler's, say: the other ranks are told what it was
            if decision is not None and decision.error == _AT:  # not a misuse already told
                said = "".join(traceback.format_exception_only(type(error), error)).strip()
                at = f"evaluation {evaluations + 1}" if fields is not None else "the block's end"
                decision = job_.Decision(error=f"{_AT} ({at}): {said}")
            raise
        finally:
            if decision is not None:
                job.decide(decision)

    def _tell_nodes(self, nodes: list[dict]) -> None:
        """The run's observers (loggers, metrics, a sweep's trial) learn what the nodes measured and
        estimated as soon as rank 0 does, before the point these figures make: their labels came
        from rank 0's meters alone. An observed store has ``note_nodes``; a bare one needs nothing."""
        note = getattr(self.store, "note_nodes", None)
        if note is not None:
            note(self.run_id, nodes)

    def _point(self, fields: dict, duration_s: float, energy_j: dict) -> EvalPoint:
        """The evaluation point of these figures; a spawned job's counts from its parent's start."""
        base_s = self._ticket.base_s if self._ticket is not None else 0.0
        energy_j = spawned_.point_energy(self._ticket, energy_j)
        return EvalPoint.measured(**fields, elapsed_s=base_s + duration_s, energy_j=energy_j)

    def _follow(self, job: job_.Job, kind: str, so_far) -> None:
        """Another rank: send this rank's figures, take rank 0's decision."""
        job.gather(kind, job.reading(so_far), len(self.points))
        decision = job.decide()
        if decision.error is not None:
            raise PowertrainError(f"rank 0 ended the run: {decision.error}")
        if decision.final:  # rank 0 skipped a run that finished before
            job.open, self.skipped = False, True
            self.monitor.end("run")
            self._release()
        if decision.point is not None:
            self.points.append(decision.point)
        self.status, self.stop_reason = decision.status, decision.stop_reason
        self.outcome = decision.outcome or self.outcome

    def _close_following(self, total, exc: BaseException | None) -> RunOutcome | None:
        """Another rank's end of the run: the close exchange with rank 0; or, leaving on an exception,
        an interrupt or an exit (``sys.exit`` in the block) too, rank 0 told so where it can be
        (a board: no connection closes), rather than left to wait for it until the timeout."""
        if exc is None and self._exchanging():
            self._follow(self._job, job_.CLOSE, total)
        elif exc is not None and self._job is not None and self._job.open:
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._job.leave(self._job.reading(total), len(self.points), error)
        return self.outcome

    def _tell_left(self, exc: BaseException | None) -> None:
        """Rank 0 leaving the block on an exception (an interrupt, an exit) while the other ranks
        may wait for it at an exchange: they are told, with its error, at once. On a board nothing
        else would reach them before the timeout; over torch.distributed its group's end does, and
        this names why. Best effort: the run is recorded however this goes."""
        if exc is None or self._job is None or not self._job.open:
            return
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        with contextlib.suppress(Exception):
            self._job.abandon(
                len(self.points), f"rank 0 failed after {len(self.points)} evaluations: {error}"
            )

    def _finish(self, job: job_.Job | None, total, exc: BaseException | None) -> RunOutcome | None:
        """Rank 0's end of the run: the ranks' figures added up where they all answered. A spawned
        rank 0 leaves the verdict for its parent, which writes the outcome."""
        lost, combined = None, None
        try:
            if job is not None:
                combined = self._lead(job, job_.CLOSE, total, None)
        except PowertrainError as error:  # a rank died, hangs or left early: the run failed
            exc = lost = error
        if self.spawned:
            channel = spawned_.CHANNEL.format(run_id=self.run_id)
            try:
                spawned_.check_in_progress(self._board_store(), self)  # a stale one leaves nothing
            except PowertrainError as stale:
                if combined is not None:  # the other ranks wait for the outcome: tell them why
                    job.decide(job_.Decision(error=str(stale)))
                raise
            spawned_.hand_back(self, channel, spawned_.verdict(self, combined, exc))
        else:
            try:
                self._write_outcome(total, exc, combined)
            except Exception:  # making the outcome failed: the other ranks still get what it was
                if combined is not None:
                    with contextlib.suppress(Exception):  # the error here is the one to say
                        job.decide(job_.Decision(outcome=self.outcome))
                raise
        if combined is not None:  # every rank waits for the outcome
            job.decide(job_.Decision(outcome=self.outcome))
        if lost is not None:
            raise lost
        return self.outcome

    def _write_outcome(self, total, exc: BaseException | None, combined) -> None:
        """Rank 0 (or the parent of spawned ranks, which takes back their error, if any) makes the
        outcome and writes it."""
        energy_j, nodes, notes = self._figures(total, combined)
        if self.handed_over:
            exc = self._take_back(exc)
            energy_j, nodes = dict(total.energy_j), spawned_.parent_node(self, total, self._ranks)
            notes = list(getattr(self, "_handed_faults", []))  # the spawned rank 0's, if any
        notes += self._unrecorded.write_again(self, len(self.points), self._waiting)
        earlier = getattr(self.tracker, "earlier", None)  # a restart's: its joules count too
        energy_j, notes = attempts.with_earlier(earlier, energy_j, notes)
        self.outcome = self._outcome(total, exc, energy_j, nodes, notes)
        timeline = self.monitor.trace().timeline()
        try:
            self._waiting.finish(self.store, self.run_id, self.outcome, timeline, self)
        except Exception as error:  # a full disk, a lost server: the training is over all the same
            refused_end(self, timeline, error)

    def _take_back(self, exc: BaseException | None) -> BaseException | None:
        """The parent, its spawned ranks done: their points and verdict; their error, if any."""
        error, self._ranks = spawned_.take_back(self)
        if exc is None and error is not None:
            return PowertrainError(error)
        return exc

    def _figures(self, total, combined) -> tuple[dict, list, list[str]]:
        """(energy per component, the per-node breakdown, notes on them: the other ranks' faults
        too) for the outcome: the ranks' figures at the close, else at the last exchange they all
        answered, else rank 0's own."""
        if self._job is None:
            return dict(total.energy_j), [], []
        if combined is not None:
            return dict(combined.energy_j), combined.nodes, list(combined.faults)
        last = self._job.last
        why = f"{SHUT_DOWN}: " if self._job.shut_down else ""
        failed = self._job.failures()  # the ranks that left on an error, if they said
        if last is None:
            note = f"{why}rank 0's own figures only: the run ended before the ranks exchanged any"
            return dict(total.energy_j), [], [note, *failed]
        note = (
            f"{why}the ranks' figures as of evaluation {len(self.points)}, the last every rank "
            "answered: what the job used after it is not counted"
        )
        return dict(last.energy_j), last.nodes, [note, *failed, *last.faults]

    def agreed(self):
        """In a job whose ranks can exchange already (torch.distributed up, or a launcher's board),
        every rank exchanges with rank 0 at the start, before any training: rank 0 checks that each
        was given its run, study, store and ``if_finished`` (a misuse is one error on every rank,
        at once), and tells every rank whether it skipped the run (``if_finished="skip"``: a rank
        that checks ``run.skipped`` before training would otherwise train alone, waiting for rank 0
        at its first evaluate). Every rank does it whatever it was given, so none waits at an
        exchange the others never enter. Where they cannot yet (Lightning starts torch.distributed
        in ``fit``), all this happens at the first evaluate. Returns the run."""
        info = ranks_.current()
        if not info.distributed or not links.ready(info):
            return self
        try:
            if self.skipped:
                self._tell_skipped()
            elif info.leader:
                job = self._linked_job()
                messages = job.gather(job_.START, job.reading(self.monitor.read("run")), 0)
                problem = job.problem(messages)
                job.decide(job_.Decision(error=problem))
                if problem is not None:
                    raise PowertrainError(problem)
            else:
                self._follow(self._linked_job(), job_.START, self.monitor.read("run"))
        except BaseException as exc:
            self.close(exc)
            raise
        return self

    def _tell_skipped(self) -> None:
        """Rank 0 skipped a run that finished before: the other ranks learn it at their first
        exchange, and stop there; a rank given another study or store than rank 0 learns that
        instead, an error on every rank (its own run may not have finished at all)."""
        if getattr(self, "_told", True):
            return
        self._told = True
        info, opened = ranks_.current(), []

        def store():  # the store route's: opened for the telling, closed after it
            opened.append(db_.open_db(self.tracker.db))
            return opened[-1][0]

        try:
            job = links.link(info, self.tracker.run_key, {}, {}, self.tracker.rank_timeout_s, store)
            if job is not None:
                job.given = given(self.tracker)
                reading = RankReading(
                    info.rank, info.node_rank, info.host, {}, machine=ranks_.machine()
                )
                messages = job.gather(job_.POINT, reading, 0)
                said = (differs(messages[0], m) for m in messages[1:])
                problem = next((p for p in said if p is not None), None)
                final = job_.Decision(None, self.status, self.stop_reason, self.outcome, final=True)
                job.decide(final if problem is None else job_.Decision(error=problem))
                job.end()
                if problem is not None:
                    raise PowertrainError(problem)
        finally:
            for opened_store, owned in opened:
                if owned:
                    opened_store.close()

    @property
    def study_config(self) -> dict:
        """The study as its tracker defines it (what a copy of the run kept beside the store holds)."""
        t = self.tracker
        return db_.study_config(t.study, t.targets, t.model, t.data)

    def __reduce__(self):
        """Pickled for a spawned process (Lightning's ddp_spawn pickles the callbacks)."""
        return (spawned_.revive, (type(self), type(self.tracker), spawned_.ticket(self)))
