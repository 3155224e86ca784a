"""Two real users' profiles before and after a like, a mute and an interest reweight: the JSON and
a screenshot of their web page at each step, through the real HTTP service and headless Chromium.

Fits the recommender on a dataset (default ml-latest-small, the benchmark's own settings) unless
``--artifacts`` names a saved one, serves it on loopback, and for each user writes
``benchmarks/results/profile/pages/<user>-<n>-<step>.json`` and ``.png``, plus ``pages.json``:
each step's interests (label, weight), top-5 recommendations with their reasons, and summary.

Usage: python benchmarks/profile_pages.py [--users 2 4] [--artifacts DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from encoder_cache import default_cache_dir

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "serve"))

from serve_helpers import KEY, WebDriver, chromium_paths, live  # noqa: E402

from interestlm.config import recommender_config  # noqa: E402
from interestlm.data.registry import load_dataset  # noqa: E402
from interestlm.recommender import Recommender  # noqa: E402
from interestlm.serve import ServeSettings, create_app  # noqa: E402

OUT = HERE / "results" / "profile" / "pages"


def shrink(png: Path) -> Path:
    """The screenshot as a 960-px-wide JPEG (a tenth of the PNG's size), the PNG removed."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        rgb = rgb.resize((960, round(rgb.height * 960 / rgb.width)))
        out = png.with_suffix(".jpg")
        rgb.save(out, quality=70)
    png.unlink()
    return out


def digest(profile: dict[str, Any], recs: dict[str, Any]) -> dict[str, Any]:
    """What a person reads off a step: interests, summary, and the top-5 with their reasons."""
    return {
        "summary": profile.get("summary"),
        "interests": [(i.get("label"), round(float(i.get("weight", 0.0)), 3)) for i in profile.get("interests", ())],
        "edits": profile.get("edits"),
        "top5": [
            {"title": r["title"], "reason": r.get("reason"), "explanation": r.get("explanation")}
            for r in recs["recommendations"][:5]
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--users", nargs="+", default=["2", "4"])
    parser.add_argument("--artifacts", type=Path, default=None)
    parser.add_argument("--like", default="2571", help="item id each user likes (The Matrix)")
    parser.add_argument("--cache-dir", default=default_cache_dir())
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="profile-pages-"))
    artifacts = args.artifacts
    if artifacts is None:
        import tomllib

        raw = tomllib.loads((HERE / "config.toml").read_text())
        settings = dict(raw.get("models", {}).get("interest", {}))
        settings.update(raw.get("datasets", {}).get(args.dataset, {}).get("models", {}).get("interest", {}))
        config = recommender_config({"recommender": {**settings, "cache_dir": args.cache_dir}})
        artifacts = Recommender(config).fit(load_dataset(args.dataset)).save(work / "artifacts")
    OUT.mkdir(parents=True, exist_ok=True)
    browser, driver_path = chromium_paths()
    settings_ = ServeSettings(api_keys=(KEY,), store_path=work / "store.sqlite3")
    report: dict[str, Any] = {}
    with live(create_app(artifacts, settings=settings_)) as server, server.client() as c:
        web = WebDriver(browser, driver_path, work / "chrome")
        try:
            for user in args.users:
                url = f"/v1/users/{user}"
                profile = c.get(url + "/profile").json()
                top_concept = profile["concepts"][0][0] if profile.get("concepts") else None
                steps: list[tuple[str, str, str, dict[str, Any] | None]] = [
                    ("before", "", "", None),
                    ("like", "POST", url + "/events", {"item_id": args.like, "kind": "like"}),
                ]
                if top_concept:
                    steps.append(("mute", "PATCH", url + "/profile", {"mute": [top_concept]}))
                steps.append(("reweight", "PATCH", url + "/profile", {"interests": [{"index": 0, "weight": 0.0}]}))
                report[user] = []
                for n, (name, method, path, body) in enumerate(steps):
                    if body is not None:
                        c.request(method, path, json=body).raise_for_status()
                    profile = c.get(url + "/profile").json()
                    recs = c.get(url + "/recommendations", params={"k": 10}).json()
                    stem = OUT / f"{user}-{n}-{name}"
                    payload = {"profile": profile, "recommendations": recs}
                    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
                    web.get(f"{server.url}/ui/users/{user}")
                    web.wait("return document.readyState === 'complete'")
                    shrink(web.screenshot(stem.with_suffix(".png")))
                    report[user].append({"step": name, **digest(profile, recs)})
        finally:
            web.close()
    (OUT / "pages.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2)[:6000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
