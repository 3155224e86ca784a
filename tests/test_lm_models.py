"""Language generation with real components: the bundled SmolLM2-135M run by llama.cpp, and the
HTTP client against real OpenAI-compatible servers on loopback (llama.cpp's own server serving
the same model, one that is down, one that is slow, one that fails once).

Under CI these run (``make test`` installs the model); elsewhere they skip only when the model
package is absent.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from interestlm.config import RecommenderConfig
from interestlm.data.registry import load_dataset
from interestlm.explain.lm import explanation_evidence, validate_explanation
from interestlm.lm import Generator, HttpLM, LMCache, LMError, LocalLM, bundled_model_path, load_prompt
from interestlm.lm_writer import LMWriter
from interestlm.profiles.lm_summary import summary_facts, validate_summary
from interestlm.recommender import Recommender
from interestlm.testing import require_local_lm

PROMPT = "Name one colour of the sky. Answer with one word."


@pytest.fixture(scope="module")
def local() -> LocalLM:
    require_local_lm()
    # One thread, as LocalLM defaults to: on a busy 2-core machine two llama.cpp threads spin-wait
    # for each other (measured: 104 s instead of 1.8 s for two short replies).
    return LocalLM(n_threads=1)


@pytest.fixture(scope="module")
def sample() -> Recommender:
    # Real MovieLens users and titles; the hashing encoder keeps the fit fast.
    return Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(
        load_dataset("ml-latest-small-sample")
    )


def test_local_model_is_deterministic_and_counts_tokens(local: LocalLM) -> None:
    first = local.complete(PROMPT, max_tokens=8)
    second = local.complete(PROMPT, max_tokens=8)
    assert first.strip() and first == second
    assert local.tokens_generated > 0 and local.seconds_generating > 0
    assert local.model_id.startswith("SmolLM2-135M-Instruct.Q4_1.gguf:")


def test_local_model_writes_grounded_text_for_real_profiles(local: LocalLM, sample: Recommender) -> None:
    generator = Generator(local)
    writer = sample.with_text(LMWriter(generator))
    users = [str(u) for u in sample.state_.user_ids[:12]]
    sources = []
    for user in users:
        profile_json = writer.profile_json(user)
        sources.append(profile_json["summary_source"])
        profile = sample.profile(user)
        if profile_json["summary_source"] != "template":
            # What was accepted passes the validator again, and names no title outside the facts.
            facts = summary_facts(profile)
            mentions = writer.text.mentions(sample.catalog.titles, sample.state_.item_concepts)
            assert validate_summary(profile_json["summary"], facts, mentions=mentions)
        else:
            assert profile_json["summary"] == profile.summary
    for user in users[:4]:
        for rec in writer.recommendations_json(user, 3)["recommendations"]:
            assert rec["explanation_source"] in ("template", generator.source)
    stats = generator.stats
    assert stats.calls == stats.accepted + stats.rejected + stats.errors + stats.over_budget
    assert stats.errors == 0
    # The model must be useful on real profiles, not merely present: some of its text is accepted.
    assert stats.accepted >= 3, stats.to_json()
    assert any(s.startswith("local:SmolLM2") for s in sources), sources


def test_rejected_explanations_fall_back_and_accepted_ones_cite_only_evidence(
    local: LocalLM, sample: Recommender
) -> None:
    generator = Generator(local)
    writer = LMWriter(generator)
    titles, item_concepts = sample.catalog.titles, sample.state_.item_concepts
    user = str(sample.state_.user_ids[20])
    recs = sample.recommend(user, 5)
    for rec in recs:
        assert rec.explanation is not None
        out = writer.explain(rec.explanation, titles, item_concepts)
        evidence = explanation_evidence(rec.explanation, titles=sample.catalog.titles,
                                        item_concepts=sample.state_.item_concepts)
        if out.text_source == "template":
            assert out.text == rec.explanation.text
        else:
            mentions = writer.mentions(titles, item_concepts)
            assert validate_explanation(out.text, evidence, mentions=mentions) == out.text


def test_cache_serves_repeats_and_the_budget_falls_back(local: LocalLM, sample: Recommender, tmp_path: Path) -> None:
    cache = LMCache(tmp_path / "lm.sqlite")
    writer = sample.with_text(LMWriter(Generator(local, cache=cache)))
    user = str(sample.state_.user_ids[3])
    first = writer.profile_json(user)
    tokens = local.tokens_generated
    again = LMWriter(Generator(local, cache=LMCache(tmp_path / "lm.sqlite")))
    second = sample.with_text(again).profile_json(user)
    # Served from the file by a new cache object: the model generated nothing.
    assert second["summary"] == first["summary"] and again.generator.stats.cache_hits == 1
    assert local.tokens_generated == tokens

    # A budget far below one generation: the template is served at once, the late text still cached.
    hurried = Generator(local, cache=cache, budget=0.001)
    prompt = load_prompt("summary")
    t = time.perf_counter()
    result = hurried.generate(prompt, {"facts": "- main interests: drama (100%)"}, lambda raw: raw)
    assert result.text is None and result.outcome == "budget" and time.perf_counter() - t < 0.2
    assert hurried.stats.over_budget == 1 and hurried.stats.fallback_rate == 1.0
    deadline = time.time() + 30
    while len(cache) < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert len(cache) == 2


# ------------------------------------------------------------------ HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server (``llama_cpp.server``, through ``interestlm.llama_server``,
    which only turns weight repacking off) serving the bundled model."""
    require_local_lm()
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "interestlm.llama_server", "--model", str(bundled_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "1", "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_http_client_against_llama_cpp_server(llama_server: str, sample: Recommender) -> None:
    lm = HttpLM(llama_server, "smollm2", timeout=60)
    text = lm.complete(PROMPT, max_tokens=8)
    assert text.strip() and lm.complete(PROMPT, max_tokens=8) == text
    generator = Generator(lm)
    profile = sample.with_text(LMWriter(generator)).profile_json(str(sample.state_.user_ids[0]))
    assert profile["summary_source"] in ("template", f"http:smollm2@{llama_server}")
    assert generator.stats.calls == 1 and generator.stats.errors == 0


def test_http_client_names_the_url_when_the_server_is_down() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    lm = HttpLM(url, "any", timeout=2, retries=2, backoff=0.1)
    t = time.perf_counter()
    with pytest.raises(LMError, match=r"127\.0\.0\.1.*failed after 3 attempt\(s\): unreachable"):
        lm.complete("hi")
    assert time.perf_counter() - t >= 0.3  # backoff 0.1 + 0.2 between the three attempts
    generator = Generator(lm)
    result = generator.generate(load_prompt("summary"), {"facts": "-"}, lambda raw: raw)
    assert result.text is None and result.outcome == "error" and generator.stats.errors == 1


class _Server:
    """A real OpenAI-compatible endpoint on loopback with scripted behaviour per request."""

    def __init__(self, *, delay: float = 0.0, fail_first: int = 0) -> None:
        self.delay, self.fail_first, self.requests = delay, fail_first, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                time.sleep(outer.delay)
                if outer.requests <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"overloaded")
                    return
                reply = {"choices": [{"message": {"role": "assistant", "content": f"echo {body['model']}"}}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_client_times_out_on_a_slow_server_and_generation_falls_back() -> None:
    server = _Server(delay=1.5)
    try:
        lm = HttpLM(server.url, "slow", timeout=0.3, retries=1, backoff=0.05)
        t = time.perf_counter()
        with pytest.raises(LMError, match="timed out"):
            lm.complete("hi")
        assert time.perf_counter() - t < 1.4 and server.requests == 2
        # Inside a time budget the caller is not even held up by the HTTP timeout.
        generator = Generator(HttpLM(server.url, "slow", timeout=10, retries=0), budget=0.2)
        t = time.perf_counter()
        result = generator.generate(load_prompt("summary"), {"facts": "-"}, lambda raw: raw)
        assert result.outcome == "budget" and time.perf_counter() - t < 0.5
    finally:
        server.close()


def test_http_client_retries_server_errors_then_succeeds() -> None:
    server = _Server(fail_first=2)
    try:
        lm = HttpLM(server.url, "m1", retries=2, backoff=0.01, api_key="secret-key")
        assert lm.complete("hi") == "echo m1" and server.requests == 3
        with pytest.raises(LMError, match="HTTP 503"):
            server.requests, server.fail_first = 0, 5
            lm.complete("hi")
    finally:
        server.close()


def test_service_writes_lm_text_within_its_time_budget(local: LocalLM, sample: Recommender, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from interestlm.serve import ServeSettings, create_app

    settings = ServeSettings(store_path=tmp_path / "store.sqlite3", synchronous="NORMAL", public_reads=True)
    generator = Generator(local)
    app = create_app(sample, settings=settings, lm=generator, lm_budget=1.5)
    user = str(sample.state_.user_ids[5])
    with TestClient(app) as client:
        t = time.perf_counter()
        body = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
        elapsed = time.perf_counter() - t
        sources = {r["explanation_source"] for r in body["recommendations"]}
        # Model time is capped by the budget; ranking and templates take well under a second more.
        assert elapsed < 1.5 + 2.0, elapsed
        assert sources <= {"template", generator.source}
        stats = generator.stats
        assert stats.calls == stats.accepted + stats.rejected + stats.errors + stats.over_budget
        profile = client.get(f"/v1/users/{user}/profile").json()
        assert profile["summary_source"] in ("template", generator.source)
        anonymous = client.post("/v1/recommendations", json={"text": "I love comedy and romance, not horror", "k": 5})
        assert anonymous.status_code == 200 and len(anonymous.json()["recommendations"]) == 5


def test_cli_recommends_for_a_user_described_in_words(local: LocalLM, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[recommender]\nencoder = "hashing"\ncollaborative = "itemknn"\n')
    out = subprocess.run(
        [sys.executable, "-m", "interestlm.cli", "recommend", "--dataset", "ml-latest-small-sample", "--config",
         str(config), "--text", "I love comedy and animation, but I hate horror.", "--lm", "local", "-k", "3",
         "--json"],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    taste = body["taste"]
    # Words the text spells out are never lost or flipped, whichever parser wrote the parse.
    assert {"comedy", "animation"} <= set(taste["likes"]) and "horror" in taste["dislikes"]
    assert taste["source"] in ("template", f"local:{local.model_id}")
    assert len(body["recommendations"]) == 3
    assert all(r["explanation_source"] in ("template", f"local:{local.model_id}") for r in body["recommendations"])


def test_local_model_adds_vocabulary_concepts_to_thin_items(local: LocalLM, sample: Recommender) -> None:
    from interestlm.concepts.lm import add_item_concepts, lm_item_concepts, thin_items

    ic = sample.state_.item_concepts
    thin = thin_items(ic, min_concepts=3)[:6]
    assert len(thin) > 0 and ic.vectors is not None
    generator = Generator(local)
    found = lm_item_concepts(thin, generator, item_concepts=ic, item_vectors=sample.state_.item_vectors,
                             texts=sample.state_.item_texts)
    assert generator.stats.calls == len(thin) and generator.stats.accepted == len(found)
    richer = add_item_concepts(ic, found)
    for item, names in found.items():
        assert 1 <= len(names) <= 3
        assert {ic.names[c] for c, _ in richer.of_item(item)} >= set(names)


def test_fit_with_the_local_model_enriches_thin_items_and_records_it(local: LocalLM, tmp_path: Path) -> None:
    # `interestlm fit --lm local`: items with fewer than 3 concepts get LM-chosen vocabulary concepts
    # before the concept graph and profiles are built; the artifacts say how many and what was rejected.
    config = tmp_path / "config.toml"
    config.write_text(
        '[recommender]\nencoder = "hashing"\ncollaborative = "itemknn"\n'
        "[recommender.concepts]\nlm_min_concepts = 3\nlm_max_items = 4\n"
    )
    out = tmp_path / "artifacts"
    run = subprocess.run(
        [sys.executable, "-m", "interestlm.cli", "fit", "--dataset", "ml-latest-small-sample", "--config",
         str(config), "--out", str(out), "--lm", "local", "--lm-cache", str(tmp_path / "lm.sqlite")],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "LM concepts (local:" in run.stdout
    record = json.loads((out / "manifest.json").read_text())["extra"]["lm_item_concepts"]
    assert record["source"] == f"local:{local.model_id}" and record["prompt"] == "item_concepts.v1"
    assert record["asked"] == 4 and record["thin_items"] >= 4 and record["calls"] == 4
    assert record["accepted"] + record["rejected"] + record["errors"] == 4
    assert record["enriched"] == record["accepted"] == len(record["items"])
    rec = Recommender.load(out)
    assert rec.state_.lm_concepts == record
    ic = rec.state_.item_concepts
    index = rec.catalog.index_of()
    for item_id, names in record["items"].items():
        assert 1 <= len(names) <= 3
        assert {ic.names[c] for c, _ in ic.of_item(index[item_id])} >= set(names)


def test_fit_without_a_model_adds_no_concepts(sample: Recommender) -> None:
    assert sample.config.concepts.lm_thin_items is False and sample.state_.lm_concepts is None


def test_warm_start_up_never_waits_for_the_language_model(sample: Recommender, tmp_path: Path) -> None:
    # `interestlm serve --warm --lm ...`: warm-up caches every user's list with template text; the
    # (slow) model is asked only by requests after start-up.
    from fastapi.testclient import TestClient

    from interestlm.serve import ServeSettings, create_app

    server = _Server(delay=0.5)
    try:
        generator = Generator(HttpLM(server.url, "slow", timeout=10, retries=0))
        settings = ServeSettings(
            store_path=tmp_path / "store.sqlite3", synchronous="NORMAL", warm=True, public_reads=True
        )
        t = time.perf_counter()
        app = create_app(sample, settings=settings, lm=generator, lm_budget=1.0)
        started = time.perf_counter() - t
        n_users = len(sample.state_.user_ids)
        # With LM text, warm-up would spend up to the 1 s budget on each of the users.
        assert n_users >= 20 and started < 0.25 * n_users, started
        assert server.requests == 0 and generator.stats.calls == 0
        user = str(sample.state_.user_ids[3])
        with TestClient(app) as client:
            body = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
            assert {r["explanation_source"] for r in body["recommendations"]} == {"template"}
            assert server.requests == 0
            anonymous = client.post("/v1/recommendations", json={"text": "I love comedy and romance", "k": 3})
            assert anonymous.status_code == 200
        # After start-up the model is used (its echo replies are rejected and fall back, and counted).
        assert server.requests > 0 and generator.stats.calls > 0
    finally:
        server.close()
