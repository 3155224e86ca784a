"""Store safety: identity marker, refusal of a missing / empty / foreign / truncated store, --new-store,
online backup and verify, corrupt rows named by seq and field, owner-only files."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from serve_helpers import KEY, live

from interestlm.cli import main
from interestlm.serve import ServeSettings, create_app
from interestlm.serve.safety import StoreRefused, backup_sqlite, marker_path_for, verify_sqlite
from interestlm.serve.store import CorruptRow, Store


def _settings(path: Path, **extra: object) -> ServeSettings:
    return ServeSettings(api_keys=(KEY,), store_path=path, synchronous="NORMAL", **extra)  # type: ignore[arg-type]


def _serve_some(artifacts: Path, path: Path, n: int, user: str = "safe") -> int:
    with live(create_app(artifacts, settings=_settings(path))) as s, s.client() as c:
        for i in range(n):
            r = c.post(f"/v1/users/{user}/events", json={"item_id": f"jazz-{i:03d}", "kind": "like"})
            assert r.status_code == 200, r.text
        return int(c.get("/healthz").json()["log_seq"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_marker_are_owner_only_and_record_identity_and_seq(artifacts: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    last = _serve_some(artifacts, path, 3)
    marker = json.loads(marker_path_for(path).read_text())
    conn = sqlite3.connect(path)
    store_id = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
    conn.close()
    assert marker["store_id"] == store_id and marker["last_seq"] == last == 3
    assert _mode(path) == 0o600 and _mode(marker_path_for(path)) == 0o600


@pytest.mark.parametrize("loss", ["missing", "empty"])
def test_a_lost_store_refuses_to_start_unless_new_store(artifacts: Path, tmp_path: Path, loss: str) -> None:
    """before: started cleanly at log_seq 0 (6,649 rows gone, no warning)."""
    path = tmp_path / "store.sqlite3"
    _serve_some(artifacts, path, 2)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    if loss == "empty":
        path.write_bytes(b"")
    with pytest.raises(StoreRefused, match=r"missing or empty.*log_seq 2.*--new-store"):
        create_app(artifacts, settings=_settings(path))
    assert main(["serve", str(artifacts), "--store", str(path)]) == 2, "the command line refuses too"
    with live(create_app(artifacts, settings=_settings(path, new_store=True))) as s, s.client() as c:
        assert c.get("/healthz").json()["log_seq"] == 0
    create_app(artifacts, settings=_settings(path))  # the new store is now the store of record


def test_a_foreign_store_refuses_to_start(artifacts: Path, tmp_path: Path) -> None:
    path, other = tmp_path / "store.sqlite3", tmp_path / "other" / "store.sqlite3"
    _serve_some(artifacts, path, 1)
    _serve_some(artifacts, other, 3)
    Store(other).close()  # checkpoint: the file alone holds everything
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copy(other, path)
    with pytest.raises(StoreRefused, match="another store"):
        create_app(artifacts, settings=_settings(path))


def test_a_copy_without_its_wal_is_refused_as_truncated_and_a_backup_is_complete(
    artifacts: Path, tmp_path: Path
) -> None:
    """before: copying the .sqlite3 without its -wal after a kill -9 lost 530 of 2,265 acknowledged
    events, silently."""
    path = tmp_path / "live" / "store.sqlite3"
    app = create_app(artifacts, settings=_settings(path))
    with live(app) as s, s.client() as c:
        for i in range(5):
            assert c.post("/v1/users/wal/events", json={"item_id": f"space-{i:03d}", "kind": "like"}).status_code == 200
            if i == 1:  # a long-running store: its older rows are checkpointed into the main file
                checkpoint = sqlite3.connect(path)
                checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                checkpoint.close()
        app.state.service.save_marker(force=True)
        # While the server still runs (the rows are in the WAL only): a raw copy and an online backup.
        copy = tmp_path / "copy" / "store.sqlite3"
        copy.parent.mkdir()
        shutil.copy(path, copy)
        shutil.copy(marker_path_for(path), marker_path_for(copy))
        backup = tmp_path / "backup" / "store.sqlite3"
        done = backup_sqlite(path, backup)
    assert done["rows"] == 5 and done["last_seq"] == 5 and _mode(backup) == 0o600
    with pytest.raises(StoreRefused, match=r"ends at log_seq 2.*records log_seq 5.*truncated"):
        create_app(artifacts, settings=_settings(copy))
    shutil.copy(marker_path_for(path), marker_path_for(backup))
    report = verify_sqlite(backup)
    assert report.ok and report.rows == 5, report.problems
    with live(create_app(artifacts, settings=_settings(backup))) as s, s.client() as c:
        likes = {x["item_id"] for x in c.get("/v1/users/wal/profile").json()["likes"]}
    assert likes == {f"space-{i:03d}" for i in range(5)}


def test_a_corrupt_row_is_named_by_store_seq_and_field(
    artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """before: "Expecting value: line 1 column 1 (char 0)", with no file or row."""
    path = tmp_path / "store.sqlite3"
    _serve_some(artifacts, path, 2)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO log (op, user_id, body, received_at) VALUES ('event', 'safe', 'not json', 0)")
        conn.execute(
            "INSERT INTO log (op, user_id, body, received_at) VALUES ('event', 'safe', "
            '\'{"item_id": "jazz-000", "kind": "like", "timestamp": 1e400}\', 0)'
        )
    conn.close()
    report = verify_sqlite(path)
    assert report.problems == [
        "log row 3: field body: not valid JSON (Expecting value: line 1 column 1 (char 0))",
        "log row 4: field body.timestamp: missing or invalid (inf)",
    ]
    assert main(["store", "verify", "--store", str(path)]) == 1
    assert "log row 3: field body" in capsys.readouterr().out
    with pytest.raises(CorruptRow, match=rf"event store {path}, log row 3, field body: not valid JSON"):
        create_app(artifacts, settings=_settings(path))


def test_store_backup_and_verify_on_the_command_line(
    artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite3"
    _serve_some(artifacts, path, 4)
    dest = tmp_path / "b.sqlite3"
    assert main(["store", "backup", str(dest), "--store", str(path)]) == 0
    assert "backed up 4 log rows (last seq 4)" in capsys.readouterr().out
    assert main(["store", "backup", str(dest), "--store", str(path)]) == 2, "a backup never overwrites"
    assert main(["store", "verify", "--store", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok")
