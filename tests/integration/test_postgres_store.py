"""The PostgreSQL store against a real server (the session's, started by conftest): schema versions,
claims that cannot race, a lost connection retried, a server that goes away and comes back, libpq's
password sources, and a password never shown."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

from powertrain.errors import PowertrainError, RunClaimed
from powertrain.records import REACHED, RUNNING
from powertrain.store import existing_store, open_store
from powertrain.store.claims import Owner
from powertrain.store.migrations import SCHEMA_VERSION
from powertrain.store.pg_session import StoreUnreachable
from powertrain.store.postgres import PostgresStore
from powertrain.testing.store_contract import begin, outcome, point

SHORT = (0.05, 0.1, 0.2)  # retries of a test: a fraction of a second


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def test_a_new_store_is_at_the_current_version_and_a_newer_one_is_refused(pg_url, postgres_server):
    with pytest.raises(PowertrainError, match="no results store at .*run a study into it first"):
        existing_store(pg_url)
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
    schema = schema_of(pg_url)
    rows = postgres_server.sql(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'")
    assert rows == [(str(SCHEMA_VERSION),)]
    postgres_server.sql(f"UPDATE {schema}.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(PowertrainError, match="schema version 99; this powertrain reads"):
        existing_store(pg_url)


def test_processes_claiming_one_run_at_once_take_turns_and_one_trains_it(pg_url):
    with PostgresStore(pg_url) as store:
        store.save_study("st", {})
    stores = [PostgresStore(pg_url) for _ in range(6)]
    for i, store in enumerate(stores):  # six live holders on six nodes
        store.owner = Owner(f"node-{i}", 100 + i, 1.0)
    barrier, won, refused = threading.Barrier(len(stores)), [], []

    def claim(store) -> None:
        barrier.wait()
        try:
            won.append(begin(store))
        except RunClaimed:
            refused.append(store)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert [r.id for r in stores[0].runs("st")] == won
    for store in stores:
        store.close()


@contextlib.contextmanager
def a_run_with_one_point(url: str):
    """A store (quick retries) holding a begun run with its first point: (store, run id)."""
    with PostgresStore(url, retry_s=SHORT) as store:
        store.save_study("st", {})
        run_id = begin(store)
        store.add_eval_point(run_id, point(0))
        yield store, run_id


@contextlib.contextmanager
def server_away(server):
    server.stop_server()
    try:
        yield
    finally:
        server.start_server()


def test_a_lost_connection_is_retried_and_the_run_lands_whole(pg_url, postgres_server):
    with a_run_with_one_point(pg_url) as (store, run_id):
        (pid,) = store.session.conn.execute("SELECT pg_backend_pid()").fetchone()
        postgres_server.sql(f"SELECT pg_terminate_backend({pid})")  # as a failover or restart would
        store.add_eval_point(run_id, point(1))
        store.finish_run(run_id, outcome())
        assert store.eval_points(run_id) == [point(0), point(1)]
        assert store.runs("st")[0].status == REACHED


def test_points_are_kept_while_the_server_is_away_and_written_when_it_is_back(
    pg_url, postgres_server
):
    with a_run_with_one_point(pg_url) as (store, run_id):
        with server_away(postgres_server):
            store.add_eval_point(run_id, point(1))  # kept here: training goes on
            store.add_eval_point(run_id, point(2))
            store.save_timeline(run_id, {"t_s": [0, 1]})
        store.finish_run(run_id, outcome())
        assert store.eval_points(run_id) == [point(0), point(1), point(2)]
        assert store.timeline(run_id) == {"t_s": [0, 1]}
        assert store.runs("st")[0].status == REACHED


def test_a_server_still_away_at_the_end_fails_the_run_clearly_and_leaves_it_unfinished(
    pg_url, postgres_server
):
    with a_run_with_one_point(pg_url) as (store, run_id), server_away(postgres_server):
        store.add_eval_point(run_id, point(1))
        with pytest.raises(StoreUnreachable, match="stays unfinished there") as error:
            store.finish_run(run_id, outcome())
    assert isinstance(error.value, PowertrainError)  # one line at the command line
    with PostgresStore(pg_url) as store:
        (run,) = store.runs("st")
        assert run.status == RUNNING and run.outcome is None  # unfinished: never half-recorded
        run_again = begin(store)  # the next process runs it again, from scratch
        assert store.eval_points(run_again) == []


def test_a_run_taken_over_while_its_holder_was_cut_off_is_recorded_once(pg_url, caplog):
    cut_off, other = PostgresStore(pg_url), PostgresStore(pg_url)
    cut_off.owner, other.owner = Owner("node-a", 1, 1.0), Owner("node-b", 2, 1.0)
    cut_off.save_study("st", {})
    first = begin(cut_off)
    cut_off.add_eval_point(first, point(0))
    other.lease_s = 0.0  # node-a's heartbeat is past its lease
    second = begin(other)
    other.add_eval_point(second, point(0, 0.9))
    other.finish_run(second, outcome())
    cut_off.add_eval_point(first, point(1))  # too late: the run is node-b's now
    cut_off.finish_run(first, outcome())
    assert "taken over by another process" in caplog.text
    (run,) = other.runs("st")
    assert run.id == second and other.eval_points(second) == [point(0, 0.9)]
    cut_off.close()
    other.close()


def test_the_lease_is_judged_by_the_servers_clock(pg_url, postgres_server):
    """A heartbeat written a minute in the server's past is stale, whatever this machine's clock says."""
    with PostgresStore(pg_url) as store:
        store.save_study("st", {})
        me = store.owner
        store.owner = Owner("node-a", 1, 1.0)
        run_id = begin(store)
        store.owner = me
        with pytest.raises(RunClaimed):
            begin(store)
        schema = schema_of(pg_url)
        postgres_server.sql(
            f"UPDATE {schema}.runs SET heartbeat_at = extract(epoch from now()) - 61 WHERE id = {run_id}"
        )
        assert begin(store) != run_id


def test_rank_messages_age_by_the_servers_clock_not_the_posting_hosts(
    pg_url, postgres_server, monkeypatch
):
    """A rank on a host whose clock is ten days behind posts a live message: a later job's rank 0
    (expiring what is older than a week) leaves it; a message a week old by the server's clock goes."""
    import powertrain.store.postgres as pg

    with PostgresStore(pg_url) as store:
        store.post_rank_message("old/job", 0, 0, {"kind": "point"})
        postgres_server.sql(
            f"UPDATE {schema_of(pg_url)}.rank_messages SET posted_at = posted_at - 8 * 86400"
        )
        slow = pg.time.time() - 10 * 86400
        monkeypatch.setattr(pg.time, "time", lambda: slow)  # this host's clock: ten days behind
        store.post_rank_message("live/job", 0, 1, {"kind": "point"})
        store.expire_rank_messages(older_than_s=7 * 86400)
        assert store.rank_messages("live/job", 0) == {1: {"kind": "point"}}
        assert store.rank_messages("old/job", 0) == {}


def test_libpq_password_sources_are_honoured_and_the_password_never_shown(
    pg_url, postgres_server, tmp_path, monkeypatch
):
    role = postgres_server.add_password_role("s3cret-pw")
    url = pg_url.replace("powertrain@", f"{role}@")
    with_password = url.replace(f"{role}@", f"{role}:s3cret-pw@")
    with PostgresStore(with_password) as store:
        assert "s3cret" not in str(store) and f"{role}:***@" in str(store)
    with pytest.raises(PowertrainError, match="password authentication failed") as error:
        PostgresStore(url.replace(f"{role}@", f"{role}:wrong-pw@"))
    assert "wrong-pw" not in str(error.value)
    monkeypatch.setenv("PGPASSWORD", "s3cret-pw")
    PostgresStore(url).close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_server.port}:*:{role}:s3cret-pw\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    PostgresStore(url).close()
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[study]\nhost=127.0.0.1\nport={postgres_server.port}\nuser={role}\ndbname=postgres\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    with PostgresStore(f"postgresql:///?service=study&schema={schema_of(pg_url)}") as store:
        assert store.studies() == []


def test_copying_between_sqlite_and_postgres_keeps_every_figure(pg_url, tmp_path):
    from powertrain.store.merge import merge_stores

    with open_store(tmp_path / "a.db") as source:
        source.save_study("st", {"a": 1})
        run_id = begin(source)
        source.add_eval_point(run_id, point(0))
        source.save_timeline(run_id, {"t_s": [0, 1.5]})
        source.save_inference(run_id, [{"batch_size": 1, "energy_j": 0.25}])
        source.save_idle("h", {"measured_at": 1.0, "power_w": {"cpu": 3.5}})
        source.finish_run(run_id, outcome())
    first = merge_stores([tmp_path / "a.db"], pg_url)
    again = merge_stores([tmp_path / "a.db"], pg_url)
    back = merge_stores([pg_url], tmp_path / "b.db")
    assert (first.runs, again.runs, again.skipped, back.runs) == (1, 0, 1, 1)
    with open_store(tmp_path / "a.db") as a, open_store(tmp_path / "b.db") as b:
        (ra,), (rb,) = a.runs(), b.runs()
        assert json.dumps(ra.__dict__, default=str) == json.dumps(
            {**rb.__dict__, "id": ra.id}, default=str
        )
        assert a.eval_points(ra.id) == b.eval_points(rb.id)
        assert a.timeline(ra.id) == b.timeline(rb.id) and a.idles() == b.idles()
        assert a.inference(ra.id) == b.inference(rb.id)


def test_two_merges_copying_one_run_at_once_store_it_once(pg_url):
    """Two merges of one input into one database at once: the second copy of a run waits for the
    first's transaction, then finds the run there (each took it for new before, and kept it)."""
    from powertrain.store.memory import MemoryStore

    with MemoryStore() as source:
        source.save_study("st", {})
        run_id = begin(source)
        source.add_eval_point(run_id, point(0))
        source.finish_run(run_id, outcome())
        run = source.run(run_id)
    with PostgresStore(pg_url) as setup:
        setup.save_study("st", {})  # an earlier merge's: no study row for the two to wait on
    held, copies = threading.Event(), {}

    def first() -> None:
        with PostgresStore(pg_url) as out, out.atomic():
            copies["first"] = out.copy_run(run, [point(0)])
            held.set()
            threading.Event().wait(1.0)  # the rest of a long merge, its transaction open

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    with PostgresStore(pg_url) as out:
        copies["second"] = out.copy_run(run, [point(0)])
        thread.join()
        assert copies["first"] is not None and copies["second"] is None
        assert len(out.runs("st")) == 1


def test_a_run_key_beyond_the_servers_index_limit_is_one_clear_error_not_a_lost_server(pg_url):
    """A setup's long text makes a run key PostgreSQL's index cannot hold: the server refuses it
    (a "program limit"), which was taken for a lost connection, tried again for a minute and
    then called unreachable."""
    import random
    import string
    import time

    letters = random.Random(0)
    key = "".join(letters.choice(string.ascii_letters) for _ in range(9000))  # no compressing
    with PostgresStore(pg_url, retry_s=(5.0, 5.0)) as store:
        store.save_study("st", {})
        began = time.monotonic()
        with pytest.raises(PowertrainError) as refused:
            begin(store, key=key)
        assert time.monotonic() - began < 4.0 and not isinstance(refused.value, StoreUnreachable)
        assert "refused" in str(refused.value) and "unreachable" not in str(refused.value)
        assert store.runs() == []
        assert begin(store, key="k2") > 0  # and the store goes on


def test_an_older_store_is_migrated_in_one_transaction_or_left_as_it_was(
    pg_url, postgres_server, monkeypatch
):
    """The migration path as a next version will take it: version N + 1 adds a column."""
    from powertrain.store import pg_schema

    with open_store(pg_url) as store:
        store.save_study("st", {})
        begin(store)
    schema, newer = schema_of(pg_url), SCHEMA_VERSION + 1

    def broken(conn) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT")
        raise RuntimeError("the migration failed half-way")

    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", newer)
    monkeypatch.setitem(pg_schema.MIGRATIONS, SCHEMA_VERSION, broken)
    with pytest.raises(RuntimeError, match="half-way"):
        existing_store(pg_url)
    columns = f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}'"
    assert ("note",) not in postgres_server.sql(columns)  # as it was
    monkeypatch.setitem(
        pg_schema.MIGRATIONS, SCHEMA_VERSION, lambda c: c.execute("ALTER TABLE runs ADD note TEXT")
    )
    with existing_store(pg_url) as store:
        assert len(store.runs("st")) == 1
    assert ("note",) in postgres_server.sql(columns)
    version = f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
    assert postgres_server.sql(version) == [(str(newer),)]


def test_a_take_on_finishing_as_another_host_takes_it_over_loses_no_record(
    pg_url, postgres_server, monkeypatch
):
    """Host A takes on a search's stored pause and finishes it just as host B, which judged A's
    heartbeat stale, takes the run over: B's claim had checked the attempts before A's finish
    committed. Either A's finish lands first (B is refused) or B's claim does (A's run was taken
    over): never B's claim removing A's finished record after A's finish removed the pause."""
    from powertrain.records import CENSORED, Verdict

    with PostgresStore(pg_url) as a, PostgresStore(pg_url) as b:
        a.save_study("st", {})
        a.finish_run(begin(a), outcome(CENSORED, Verdict.SEARCH_BOUND))
        a.owner = Owner("node-a", 1, 1.0)
        taking_on = begin(a, replace_censored=True)
        schema = schema_of(pg_url)
        postgres_server.sql(
            f"UPDATE {schema}.runs SET heartbeat_at = extract(epoch from now()) - 61"
            f" WHERE id = {taking_on}"
        )
        real, checks, finishing = b._check, [], []

        def check_then_a_finishes(c, spec) -> None:
            real(c, spec)
            checks.append(spec)
            if len(checks) == 2:  # B holds the run's claim lock, its attempts judged
                done = threading.Thread(target=a.finish_run, args=(taking_on, outcome()))
                finishing.append(done)
                done.start()
                done.join(timeout=2)  # A's finish, if nothing holds it back, commits now

        monkeypatch.setattr(b, "_check", check_then_a_finishes)
        with contextlib.suppress(ValueError):
            begin(b, replace_censored=True)
        finishing[0].join(timeout=10)
        runs = b.runs("st")
    assert any(r.outcome is not None for r in runs), runs  # the pause, or A's finished run


def test_a_server_lost_just_after_a_claim_leaves_the_observed_run_training(
    pg_url, postgres_server, caplog
):
    """The observed store reads the new record back for its loggers (its start: the tools' ids); a
    server gone between the claim and that read is a warning, not the run's failure: the run trains,
    its points kept here, and lands whole when the server is back."""
    from powertrain.loggers.observe import ObservedStore, Observers, RunObserver

    heard = []

    class Starts(RunObserver):
        def run_begun(self, info) -> None:
            heard.append(info.started_at)

    with PostgresStore(pg_url, retry_s=SHORT) as inner:
        inner.save_study("st", {})
        claim = inner.begin_run

        def claim_then_lost(*args):
            run_id = claim(*args)
            postgres_server.stop_server()
            return run_id

        inner.begin_run = claim_then_lost
        store = ObservedStore(inner, Observers([Starts()]))
        try:
            run_id = begin(store)
            store.add_eval_point(run_id, point(0))  # kept here: training goes on
        finally:
            postgres_server.start_server()
        store.finish_run(run_id, outcome())
        assert store.eval_points(run_id) == [point(0)]
        assert store.runs("st")[0].status == REACHED
    assert heard == [None]
    assert "could not be read back" in caplog.text
