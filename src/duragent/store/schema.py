"""The SQLite schema, its version, and the checks made when a database is opened.

``SCHEMA_VERSION`` is stored in the ``meta`` table. Opening a database with a newer version
is refused with a clear error (nothing is written to it); an older version is migrated
explicitly, step by step, inside one transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from .._engine.events import EVENT_SCHEMA_VERSION
from ..errors import StoreCorruptError, StoreVersionError
from ._errors import is_busy

SCHEMA_VERSION: Final = 9
"""Version table:
    1: initial schema.
    2: ``runs.pending_queries`` (queries wait for a pending workflow task, so a query sees a
       signal sent before it).
    3: ``events.attrs`` written positionally (a JSON array in field order, see
       ``events.encode_event_fields``) instead of as an object; rows written by name before
       stay as they are and read the same, so the migration changes no data.
    4: ``stream_events`` (the durable token stream next to each streamed run: model-call
       deltas keyed by (run, call, attempt, seq), attempt start/commit/failure markers and
       pointers to the history events subscribers show) and ``runs.stream`` (0: the run
       has no stream, 1: it streams, 2: its stream rows expired).
    5: ``runs.search_attributes`` (a JSON object; ``workflow.upsert_search_attributes`` and
       ``start_workflow(search_attributes=...)``), filtered on by run lists.
    6: ``schedules`` (client.create_schedule: each schedule's definition, state, counts
       and when a worker must look at it next), ``schedule_runs`` (the workflows a
       schedule started that have not closed, for its overlap policy),
       ``runs.cron_schedule`` (a run started with ``cron_schedule=``: when it closes, the
       next run of its workflow starts at the next cron time) and ``runs.next_run_id``
       (that next run, which ``handle.result()`` follows).
    7: ``run_counts`` (how many runs have each status, kept by triggers on ``runs``, so the
       UI's and ``/metrics``' counts do not read every run the file keeps) and the index
       ``runs_by_type`` (a run list filtered by workflow type reads only that type's runs).
    8: the index ``runs_closed_by_status`` (a run list filtered by one closed status, the
       UI's "failed" tab, reads only the runs that have it; partial, so a running run's
       round trips never touch it).
    9: ``stream_runs`` (in a stream store, the file where workers on Temporal publish token
       streams: each run with rows there, its namespace, when it last wrote and when a
       worker last asked Temporal whether it closed), so its rows expire after the run
       closes as they do on the embedded engine. The migration lists the runs an older
       stream store holds rows of (with no namespace: see ``duragent.temporal._stream_expiry``).
       And ``payload_rescued``: while payloads no run refers to are being reclaimed
       (``_payload_gc``), the payloads writers refer to meanwhile. The database header's
       ``user_version`` counts reclamations (times 2, plus 1 while one runs): a connection
       forgets which payloads it knows exist when it changes. ``workers.payload_epochs``
       (1 for a worker that does so: none runs while a worker of an older version does).
"""

STREAM_DDL: Final = (
    # The offset is the subscribers' cursor: AUTOINCREMENT never reuses one, and with one
    # writer at a time a row committed later always has a larger offset.
    """CREATE TABLE stream_events (
    stream_offset INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL,
    call          INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    data          TEXT NOT NULL DEFAULT '',
    time          INTEGER NOT NULL,
    UNIQUE (run_id, call, attempt, seq)
)""",
    "CREATE INDEX stream_by_run ON stream_events(run_id, stream_offset)",
    # Attempt markers (start: seq 0, commit/failed: seq -1) are few; readers list them often.
    "CREATE INDEX stream_markers ON stream_events(run_id, call, attempt) WHERE seq <= 0",
    "CREATE INDEX runs_streamed ON runs(close_time) WHERE stream = 1",
)
"""The stream's schema (created by version 4's migration, and for new databases)."""

SCHEDULE_DDL: Final = (
    # One row per schedule. ``processed_to``: every action time up to it was handled
    # (started, skipped or buffered); ``wake_at``: when a worker must look at it again (the
    # next action time, or at once when a buffered action may start; NULL: paused or
    # finished). Workers claim due schedules by updating these in one transaction.
    """CREATE TABLE schedules (
    schedule_id  TEXT PRIMARY KEY,
    definition   TEXT NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0,
    note         TEXT NOT NULL DEFAULT '',
    remaining    INTEGER,
    processed_to INTEGER NOT NULL,
    wake_at      INTEGER,
    buffer       TEXT NOT NULL DEFAULT '[]',
    num_actions  INTEGER NOT NULL DEFAULT 0,
    num_missed   INTEGER NOT NULL DEFAULT 0,
    num_skipped  INTEGER NOT NULL DEFAULT 0,
    recent       TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID""",
    "CREATE INDEX schedules_due ON schedules(wake_at) WHERE wake_at IS NOT NULL",
    # The workflows a schedule started that are still open (by workflow id, so a run that
    # continues as new stays counted); a run's close deletes its row.
    """CREATE TABLE schedule_runs (
    workflow_id  TEXT PRIMARY KEY,
    schedule_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    started_at   INTEGER NOT NULL
) WITHOUT ROWID""",
    "CREATE INDEX schedule_runs_by_schedule ON schedule_runs(schedule_id)",
)
"""The schedules' schema (created by version 6's migration, and for new databases)."""

RUN_COUNTS_DDL: Final = (
    """CREATE TABLE run_counts (
    status TEXT PRIMARY KEY,
    runs   INTEGER NOT NULL
) WITHOUT ROWID""",
    # Triggers, so that no statement that adds, closes or removes a run can forget them:
    # a run's status changes once or twice in its life, never in a round trip's updates
    # (which do not set it, so the second trigger does not fire).
    """CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_counts (status, runs) VALUES (new.status, 1)
        ON CONFLICT (status) DO UPDATE SET runs = runs + 1;
END""",
    """CREATE TRIGGER run_counts_status AFTER UPDATE OF status ON runs
WHEN old.status IS NOT new.status BEGIN
    UPDATE run_counts SET runs = runs - 1 WHERE status = old.status;
    INSERT INTO run_counts (status, runs) VALUES (new.status, 1)
        ON CONFLICT (status) DO UPDATE SET runs = runs + 1;
END""",
    """CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN
    UPDATE run_counts SET runs = runs - 1 WHERE status = old.status;
END""",
)
"""Runs by status (created by version 7's migration, and for new databases)."""

RUNS_BY_TYPE_DDL: Final = ("CREATE INDEX runs_by_type ON runs(workflow_type, start_time)",)
"""Runs of a workflow type, newest first (version 7's migration, and new databases)."""

CLOSED_BY_STATUS_DDL: Final = (
    # Partial: a run enters it once, as it closes (starts and round trips leave it alone).
    "CREATE INDEX runs_closed_by_status ON runs(status, start_time) WHERE status != 'running'",
)
"""Closed runs of a status, newest first (version 8's migration, and new databases)."""

STREAM_RUNS_DDL: Final = (
    """CREATE TABLE stream_runs (
    run_id      TEXT PRIMARY KEY,
    namespace   TEXT NOT NULL DEFAULT '',
    workflow_id TEXT NOT NULL DEFAULT '',
    last_time   INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID""",
    "CREATE INDEX stream_runs_by_time ON stream_runs(last_time)",
)
"""Runs of another backend (Temporal) whose streams this file keeps (version 9's migration,
and new databases). Runs of this file's own engine are in ``runs`` and never here."""

PAYLOAD_GC_DDL: Final = (
    "CREATE TABLE payload_rescued (digest BLOB PRIMARY KEY) WITHOUT ROWID",
    # 1: the worker forgets what it knew of payloads when their epoch changes (a worker
    # of an older version, registered before the migration, has 0: no collection then).
    "ALTER TABLE workers ADD COLUMN payload_epochs INTEGER NOT NULL DEFAULT 0",
)
"""Payloads written while a reclamation runs, and which workers take part (version 9's
migration, and new databases)."""

MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: ("ALTER TABLE runs ADD COLUMN pending_queries INTEGER NOT NULL DEFAULT 0",),
    2: (),
    3: ("ALTER TABLE runs ADD COLUMN stream INTEGER NOT NULL DEFAULT 0", *STREAM_DDL),
    4: ("ALTER TABLE runs ADD COLUMN search_attributes TEXT",),
    5: (
        *SCHEDULE_DDL,
        "ALTER TABLE runs ADD COLUMN cron_schedule TEXT",
        "ALTER TABLE runs ADD COLUMN next_run_id TEXT",
    ),
    6: (
        *RUN_COUNTS_DDL,
        *RUNS_BY_TYPE_DDL,
        "INSERT INTO run_counts (status, runs) SELECT status, count(*) FROM runs GROUP BY status",
    ),
    7: CLOSED_BY_STATUS_DDL,
    8: (
        *STREAM_RUNS_DDL,
        *PAYLOAD_GC_DDL,
        "INSERT INTO stream_runs (run_id, last_time) SELECT run_id, max(time) "
        "FROM stream_events WHERE run_id NOT IN (SELECT run_id FROM runs) GROUP BY run_id",
    ),
}
"""Statements that take a database from version N to N + 1."""

APPLICATION_ID: Final = 0x44524741  # "DRGA", in the SQLite header: marks a Duragent file.

DDL: Final = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    run_id              TEXT PRIMARY KEY,
    workflow_id         TEXT NOT NULL,
    workflow_type       TEXT NOT NULL,
    task_queue          TEXT NOT NULL,
    status              TEXT NOT NULL,
    start_time          INTEGER NOT NULL,
    close_time          INTEGER,
    last_event_id       INTEGER NOT NULL,
    last_input_event_id INTEGER NOT NULL,
    processed_through   INTEGER NOT NULL DEFAULT 0,
    history_bytes       INTEGER NOT NULL DEFAULT 0,
    first_run_id        TEXT NOT NULL,
    parent_workflow_id  TEXT,
    parent_run_id       TEXT,
    parent_seq          INTEGER,
    parent_close_policy TEXT,
    task_failure        TEXT,
    task_attempts       INTEGER NOT NULL DEFAULT 0,
    pending_updates     INTEGER NOT NULL DEFAULT 0,
    pending_queries     INTEGER NOT NULL DEFAULT 0,
    memo                TEXT,
    stream              INTEGER NOT NULL DEFAULT 0,
    search_attributes   TEXT,
    cron_schedule       TEXT,
    next_run_id         TEXT
);
CREATE UNIQUE INDEX runs_open_workflow_id ON runs(workflow_id) WHERE status = 'running';
CREATE INDEX runs_by_workflow_id ON runs(workflow_id, start_time);
CREATE INDEX runs_by_start ON runs(start_time);
CREATE INDEX runs_by_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE events (
    run_id   TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    type     TEXT NOT NULL,
    time     INTEGER NOT NULL,
    attrs    TEXT NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

CREATE TABLE payloads (
    digest BLOB PRIMARY KEY,
    data   BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE tasks (
    -- AUTOINCREMENT: an id is never reused, so a late result of an attempt whose task was
    -- deleted (timed out, cancelled) can never land on another task.
    task_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               INTEGER NOT NULL,
    task_queue         TEXT NOT NULL,
    type_name          TEXT NOT NULL,
    run_id             TEXT NOT NULL,
    seq                INTEGER NOT NULL,
    visible_at         INTEGER NOT NULL,
    owner              TEXT,
    lease              INTEGER NOT NULL DEFAULT 0,
    lease_expires_at   INTEGER,
    attempt            INTEGER NOT NULL DEFAULT 0,
    scheduled_event_id INTEGER,
    scheduled_time     INTEGER,
    schedule_deadline  INTEGER,
    start_to_close_ms  INTEGER,
    heartbeat_ms       INTEGER,
    retry_policy       TEXT,
    at_most_once       INTEGER NOT NULL DEFAULT 0,
    started_at         INTEGER,
    heartbeat_at       INTEGER,
    heartbeat_details  TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    last_failure       TEXT,
    UNIQUE (run_id, kind, seq)
);
CREATE INDEX tasks_to_poll ON tasks(kind, task_queue, visible_at) WHERE owner IS NULL;
CREATE INDEX tasks_by_owner ON tasks(owner) WHERE owner IS NOT NULL;
CREATE INDEX tasks_by_lease ON tasks(lease_expires_at) WHERE owner IS NOT NULL;
CREATE INDEX tasks_by_deadline ON tasks(schedule_deadline) WHERE schedule_deadline IS NOT NULL;

CREATE TABLE timers (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    fire_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX timers_by_due ON timers(fire_at);

CREATE TABLE workers (
    worker_id      TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    pid            INTEGER NOT NULL,
    pid_started    TEXT NOT NULL,
    task_queue     TEXT NOT NULL,
    workflow_types TEXT NOT NULL,
    activity_types TEXT,
    started_at     INTEGER NOT NULL,
    heartbeat_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE listeners (
    address     TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    pid_started TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE attempts (
    run_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER NOT NULL,
    worker     TEXT,
    outcome    TEXT NOT NULL,
    failure    TEXT,
    PRIMARY KEY (run_id, seq, attempt)
) WITHOUT ROWID;

CREATE TABLE updates (
    update_id  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    name       TEXT NOT NULL,
    input      TEXT NOT NULL,
    status     TEXT NOT NULL,
    result     TEXT,
    failure    TEXT,
    identity   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, update_id)
) WITHOUT ROWID;
CREATE INDEX updates_waiting ON updates(run_id) WHERE status = 'requested';

CREATE TABLE usage_ledger (
    entry_id      INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    agent         TEXT NOT NULL DEFAULT '',
    requests      INTEGER NOT NULL DEFAULT 1,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    time          INTEGER NOT NULL,
    worker        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX usage_ledger_by_run ON usage_ledger(run_id, seq);

CREATE TABLE queries (
    query_id      INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL,
    task_queue    TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    name          TEXT NOT NULL,
    input      TEXT NOT NULL,
    status     TEXT NOT NULL,
    owner      TEXT,
    result     TEXT,
    error      TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX queries_waiting ON queries(task_queue) WHERE status = 'requested';
"""


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def open_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in an empty database, or check an existing one.

    Raises:
        StoreCorruptError: The file is not SQLite, or is SQLite but not Duragent's.
        StoreVersionError: The database was written by a newer Duragent.
    """
    try:
        tables = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    except sqlite3.DatabaseError as err:
        if is_busy(err):
            raise  # another process is creating or converting the file: retried
        raise StoreCorruptError(
            f"{path} is not a valid Duragent database ({err}); nothing was changed. "
            "Point Duragent at another file, or restore this one from a backup"
        ) from err
    if not tables:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                for statement in (
                    *DDL.split(";"),
                    *STREAM_DDL,
                    *SCHEDULE_DDL,
                    *RUN_COUNTS_DDL,
                    *RUNS_BY_TYPE_DDL,
                    *CLOSED_BY_STATUS_DDL,
                    *STREAM_RUNS_DDL,
                    *PAYLOAD_GC_DDL,
                ):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("event_schema_version", str(EVENT_SCHEMA_VERSION)),
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return
    if app_id != APPLICATION_ID or "meta" not in tables:
        raise StoreCorruptError(
            f"{path} is a SQLite database but not a Duragent one (tables: "
            f"{', '.join(sorted(tables)[:5])}); nothing was changed. Use a new file"
        )
    meta = _meta(conn)
    try:
        version = int(meta["schema_version"])
        event_version = int(meta.get("event_schema_version", "1"))
    except (KeyError, ValueError) as err:
        raise StoreCorruptError(f"{path} has a damaged meta table ({err})") from err
    if version > SCHEMA_VERSION or event_version > EVENT_SCHEMA_VERSION:
        raise StoreVersionError(
            f"{path} was written by a newer Duragent (schema version {version}, event "
            f"version {event_version}; this Duragent supports up to {SCHEMA_VERSION} and "
            f"{EVENT_SCHEMA_VERSION}). Upgrade Duragent to open it; nothing was changed"
        )
    if version < SCHEMA_VERSION:
        _migrate(conn, path)


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring an older database to ``SCHEMA_VERSION`` in one transaction (all steps or none;
    another process may be migrating at the same time, so the version is read again)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(_meta(conn)["schema_version"])
        while version < SCHEMA_VERSION:
            steps = MIGRATIONS.get(version)
            if steps is None:
                raise StoreVersionError(
                    f"{path} has schema version {version}, which this Duragent cannot "
                    "migrate; nothing was changed"
                )
            for statement in steps:
                conn.execute(statement)
            version += 1
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
