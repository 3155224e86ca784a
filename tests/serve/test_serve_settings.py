"""Settings precedence, API key files, constant-time key checks, the readers-writer lock."""

import os
import threading
import time
from pathlib import Path

import pytest

from interestlm.serve.auth import ApiKeys
from interestlm.serve.concurrency import RWLock
from interestlm.serve.settings import ServeSettings, read_api_keys


def test_key_files_skip_comments_and_name_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text("# service keys\n\nkey-one-123456\n  key-two-abcdef  \n", encoding="utf-8")
    assert read_api_keys(f) == ["key-one-123456", "key-two-abcdef"]
    f.write_text("key-one-123456\nshort\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"keys, line 2: an API key is one token"):
        read_api_keys(f)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_api_keys(tmp_path / "absent")


def test_settings_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "serve.toml"
    toml.write_text('[serve]\nmax_body_bytes = 2048\nread_auth = true\nstore_path = "from-file.db"\n', encoding="utf-8")
    env = {"INTERESTLM_API_KEYS": "alpha-key-1, beta-key-22", "INTERESTLM_STORE": "from-env.db", "HOME": "/x"}
    s = ServeSettings.load(toml, environ=env, store_path=Path("from-cli.db"))
    assert s.max_body_bytes == 2048 and s.read_auth is True
    assert s.store_path == Path("from-cli.db")
    assert s.keys() == {"alpha-key-1", "beta-key-22"}
    assert "alpha-key-1" not in repr(s)
    assert ServeSettings.load(toml, environ=env).store_path == Path("from-env.db")
    assert ServeSettings.load(environ={}).keys() == frozenset()


def test_settings_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServeSettings.load(environ={"INTERESTLM_MAX_BODY_BYTES": "-5"})
    with pytest.raises(ValueError, match="synchronous"):
        ServeSettings.load(environ={"INTERESTLM_SYNCHRONOUS": "OFF"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[serve\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.toml: not valid TOML"):
        ServeSettings.load(bad, environ={})
    with pytest.raises(ValueError, match="unknown_option"):
        ServeSettings.load(environ={}, unknown_option=1)


def test_keys_file_and_inline_keys_combine(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text("file-key-0001\n", encoding="utf-8")
    s = ServeSettings.load(environ={"INTERESTLM_API_KEYS_FILE": str(f), "INTERESTLM_API_KEYS": "env-key-0002"})
    keys = ApiKeys(s.keys())
    assert len(keys) == 2
    assert keys.valid("file-key-0001") and keys.valid("env-key-0002")
    assert not keys.valid("file-key-000") and not keys.valid("")


def test_rwlock_readers_share_and_a_writer_is_alone() -> None:
    lock = RWLock()
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    guard = threading.Lock()

    def work(kind: str) -> None:
        ctx = lock.read() if kind == "r" else lock.write()
        with ctx:
            with guard:
                inside.append(kind)
                overlaps.append(tuple(inside))
            time.sleep(0.01)
            with guard:
                inside.remove(kind)

    threads = [threading.Thread(target=work, args=(k,)) for k in "rrrwrrwrr"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o == ("w",) for o in overlaps if "w" in o), overlaps
    assert any(len(o) > 1 for o in overlaps), "readers never overlapped"



def test_a_served_process_runs_blas_on_one_thread_unless_told(artifacts: Path, tmp_path: Path) -> None:
    # One list's products are thin: two BLAS threads per list on a busy machine were up to 10x slower.
    import httpx
    from serve_helpers import KEY, ServerProcess

    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n", encoding="utf-8")
    headers = {"Authorization": f"Bearer {KEY}"}
    for extra, expected in (((), 1), (("--blas-threads", "0"), 2), (("--blas-threads", "2"), 2)):
        store = tmp_path / f"store{len(extra)}{expected}.sqlite3"
        os.environ["OPENBLAS_NUM_THREADS"], saved = "2", os.environ.get("OPENBLAS_NUM_THREADS")
        try:
            server = ServerProcess(artifacts, store, keys, tmp_path / "log", extra=extra)
        finally:
            os.environ.pop("OPENBLAS_NUM_THREADS")
            if saved is not None:
                os.environ["OPENBLAS_NUM_THREADS"] = saved
        try:
            text = httpx.get(server.url + "/metrics", headers=headers, timeout=30).text
            assert f"\ninterestlm_blas_threads {expected}\n" in text, (extra, text[-500:])
        finally:
            server.stop()
