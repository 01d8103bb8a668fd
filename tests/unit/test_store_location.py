"""One place opens a store from a string: a path is SQLite, postgresql:// is PostgreSQL, any other
scheme is refused by name (never a file of that name); URLs are shown with the password masked; SLURM's
variables give --shard auto."""

from __future__ import annotations

import pytest

from powertrain.errors import PowertrainError
from powertrain.slurm import shard_from_env, slurm_job
from powertrain.store import locate, open_store
from powertrain.store.location import mask_url, mask_urls, same_store
from powertrain.store.migrations import SCHEMA_VERSION
from powertrain.store.pg_schema import FIRST_VERSION, MIGRATIONS, tables
from powertrain.store.pg_session import split_url
from powertrain.study.plan import parse_shard
from tests.cli_helpers import assert_one_clear_error, powertrain


@pytest.mark.parametrize(
    "db", ["mysql://u:pw@host/db", "sqlite:///runs/x.db", "HTTP://example.org/x", "redis://h:6379"]
)
def test_a_url_of_a_scheme_without_a_store_is_refused_by_name(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scheme = db.split("://")[0].lower()
    with pytest.raises(PowertrainError, match=f"no results store for {scheme}://") as error:
        open_store(db)
    assert "pw" not in str(error.value)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_the_command_line_refuses_it_in_one_line_and_creates_nothing(tmp_path):
    (tmp_path / "study.yaml").write_text("name: x\n")
    url = "mysql://u:secret@h/db"
    for args in (
        ["run", "study.yaml", "--db", url],
        ["ls", "--db", url],
        ["simulate", "--study", "x", "--strategy", "grid", "--db", url],
        ["merge", "a.db", "-o", url],
    ):
        done = powertrain(*args, cwd=tmp_path)
        assert_one_clear_error(done, "mysql://")
        assert "secret" not in done.stderr + done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_paths_and_postgres_urls_are_told_apart():
    assert locate("runs/powertrain.db").path.name == "powertrain.db"
    assert locate("C:\\runs\\x.db").path is not None
    assert locate("postgresql://u@h:5432/db").is_postgres
    assert locate("postgres://u@h/db").is_postgres
    assert locate("POSTGRESQL://u@h/db").is_postgres


def test_powertrain_db_is_the_default(monkeypatch):
    monkeypatch.delenv("POWERTRAIN_DB", raising=False)
    assert str(locate(None)) == "runs/powertrain.db"
    monkeypatch.setenv("POWERTRAIN_DB", "postgresql://u:pw@h:1/db")
    assert locate(None).is_postgres and str(locate(None)) == "postgresql://u:***@h:1/db"


def test_a_password_is_masked_wherever_it_is():
    assert mask_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert same_store("postgresql://u:a@h/db", "postgresql://u:b@h/db")
    assert not same_store("postgresql://u@h/db?schema=a", "postgresql://u@h/db?schema=b")


def test_the_schema_is_powertrains_own_parameter_and_must_be_a_name():
    assert split_url("postgresql://u@h/db?schema=s1&sslmode=disable") == (
        "postgresql://u@h/db?sslmode=disable",
        "s1",
    )
    assert split_url("postgresql://u@h/db")[1] == "powertrain"
    with pytest.raises(PowertrainError, match="schema="):
        split_url("postgresql://u@h/db?schema=x;drop")


def test_every_schema_version_since_the_first_has_a_postgres_migration():
    assert set(MIGRATIONS) == set(range(FIRST_VERSION, SCHEMA_VERSION))


def test_the_postgres_tables_are_sqlites_in_postgres_words():
    ddl = tables()
    assert "AUTOINCREMENT" not in ddl and " REAL" not in ddl
    assert "GENERATED ALWAYS AS IDENTITY" in ddl and "claim_locks" in ddl


ARRAY = {"SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0"}


@pytest.mark.parametrize(
    ("env", "shard"),
    [
        ({**ARRAY, "SLURM_ARRAY_TASK_ID": "2"}, (2, 3)),
        ({**ARRAY, "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_ID": "1"}, (0, 3)),
        (
            {
                **ARRAY,
                "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_STEP": "5",
                "SLURM_ARRAY_TASK_ID": "20",
            },
            (2, 3),
        ),  # fmt: skip
        (
            {"SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_NTASKS": "4"},
            (1, 4),
        ),
    ],
)
def test_shard_auto_reads_the_array_task_or_the_job_step(env, shard):
    assert shard_from_env(env) == shard


def test_shard_auto_outside_slurm_or_with_a_ragged_array_says_what_to_do(monkeypatch):
    with pytest.raises(PowertrainError, match="not inside a SLURM job"):
        shard_from_env({})
    with pytest.raises(PowertrainError, match="evenly spaced"):
        shard_from_env({**ARRAY, "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_ID": "7"})
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_ARRAY_TASK_COUNT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PowertrainError, match="--shard auto"):
        parse_shard("auto")


def test_an_array_task_that_does_not_say_the_arrays_size_is_refused_not_given_the_whole_study():
    """Without SLURM_ARRAY_TASK_COUNT (a Slurm before 18.08) the batch script's own task 0 of 1 is
    no share of the array: every array task would run every run."""
    env = {"SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0"}
    env.update(SLURM_ARRAY_TASK_MAX="7", SLURM_PROCID="0", SLURM_NTASKS="1")
    with pytest.raises(PowertrainError, match="SLURM_ARRAY_TASK_COUNT.*--shard i/N"):
        shard_from_env(env)


def test_the_job_and_node_go_into_the_hardware_record():
    env = {"SLURM_JOB_ID": "42", "SLURMD_NODENAME": "gpu07", "SLURM_ARRAY_TASK_ID": "3"}
    assert slurm_job(env) == {"job_id": "42", "node": "gpu07", "array_task_id": "3"}
    assert slurm_job({}) is None


def test_a_slurm_run_is_compared_as_its_chip_in_its_partition_not_its_node():
    from powertrain.slurm import slurm_machine_label

    job = {"cluster": "hpc", "partition": "gpu", "node": "gpu07"}
    assert slurm_machine_label({"gpu_model": "A100", "cpu_model": "Xeon"}, job) == "A100 on hpc/gpu"
    assert slurm_machine_label({"cpu_model": "Xeon"}, {"node": "n1"}) == "Xeon on a SLURM cluster"


def test_a_postgres_url_without_the_driver_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(PowertrainError, match=r"pip install 'powertrain\[postgres\]'"):
        open_store("postgresql://u@127.0.0.1:1/db")


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://bob:s3cr?t@db.example/pt", "s3cr?t"),  # libpq takes ? and # raw here
        ("postgresql://bob:s3cr?t@db.example", "s3cr?t"),
        ("postgresql://bob:a#b?c=d@db:5432/pt?sslmode=require", "a#b?c=d"),
        ("postgresql://bob:a@b@db/pt?application_name=x@y", "a@b"),
        ("postgresql://bob:pw@db?password=other", "other"),
    ],
)
def test_a_password_holding_a_question_mark_or_hash_is_masked_whole(url, secret):
    shown = mask_url(url)
    assert secret not in shown and secret not in mask_urls(f"failed: {url} refused")
    assert "bob:***@db" in shown


def test_a_query_holding_an_at_sign_keeps_its_password_masked():
    shown = mask_url("postgresql://db/pt?password=zz&application_name=me@x")
    assert "zz" not in shown and shown.startswith("postgresql://db/pt?")


def test_a_password_holding_a_question_mark_reaches_libpq_whole():
    assert split_url("postgresql://bob:s3cr?t@db/pt?schema=s1&sslmode=disable") == (
        "postgresql://bob:s3cr?t@db/pt?sslmode=disable",
        "s1",
    )


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://alice:s3cr/et@127.0.0.1/db", "s3cr/et"),  # libpq: host alice, port s3cr
        ("postgresql://alice:98/76@127.0.0.1:5432/db", "98/76"),
        ("postgresql://al/ice:pw0rd@127.0.0.1/db", "pw0rd"),  # a '/' in the user
        ("postgresql://alice:qq/w?x@127.0.0.1/db", "qq/w?x"),
        ("postgresql://alice:zz@yy/xx@127.0.0.1/db", "zz@yy/xx"),  # '@' and '/': libpq's host yy
    ],
)
def test_a_password_holding_a_slash_is_masked_and_the_url_refused_before_connecting(url, secret):
    """libpq ends the user and password at the first '/', so an unencoded '/' in the password makes
    its head a host and port: the URL is masked whole and refused with what to do, never tried."""
    assert all(part not in mask_url(url) for part in secret.split("/"))
    assert secret not in mask_urls(f"failed: {url} refused")
    with pytest.raises(PowertrainError, match="%2F") as error:
        open_store(url)
    assert secret.split("/")[0] not in str(error.value)


def test_a_database_name_holding_an_at_sign_is_refused_with_its_encoding():
    with pytest.raises(PowertrainError, match="%40"):
        locate("postgresql://h:5432/my@db")
    assert locate("postgresql://h:5432/my%40db").is_postgres


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://u:p%zzsecret@127.0.0.1:1/db", "zzsecret"),  # psycopg echoes the token
        ("postgresql://u:sec ret@127.0.0.1:1/db", "sec ret"),  # ... and the spaced text
    ],
)
def test_psycopgs_own_message_never_carries_the_password(url, secret):
    pytest.importorskip("psycopg")
    with pytest.raises(PowertrainError) as error:
        open_store(url)
    assert secret not in str(error.value) and "***" in str(error.value)


@pytest.mark.parametrize("quote", ["'", '"', "<", ">"])
def test_a_password_holding_a_quote_is_masked_in_another_tools_message(quote):
    url = f"postgresql://bob:se{quote}cr3t@db.example/pt"
    said = mask_urls(f"could not connect to {url}: refused")
    assert "se" not in said.split("bob:")[1][:4] and "cr3t" not in said, said
