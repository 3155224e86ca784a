"""A picture of one user: the posters they liked last (top row) beside the posters of their top-10
(bottom row), from the text + image recommender fitted on ml-latest-small with posters.

Usage: python benchmarks/montage_multimodal.py [--artifacts DIR] [--user ID] [--cache-dir DIR]

Without ``--artifacts`` the recommender is fitted (and saved to ``artifacts/ml-latest-small-posters``).
The user defaults to the one with the most liked movies that have a poster among their latest 30.
Writes ``benchmarks/results/multimodal/montage.jpg`` and ``montage.json`` (titles, reasons). The
montage is made of the studios' posters (research use only): it is git-ignored, never committed.
"""

from __future__ import annotations

import argparse
import io
import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from encoder_cache import default_cache_dir
from interestlm import Recommender, RecommenderConfig
from interestlm.data.images import attach_images
from interestlm.data.registry import load_dataset
from interestlm.testing import shared_data

OUT = Path(__file__).parent / "results" / "multimodal"
W, H = 120, 178


def tile(data: bytes | None, title: str) -> Image.Image:
    """A poster scaled to the tile, or a grey tile with the title for a movie without one."""
    if data is not None:
        return Image.open(io.BytesIO(data)).convert("RGB").resize((W, H))
    img = Image.new("RGB", (W, H), (200, 200, 200))
    pen = ImageDraw.Draw(img)
    lines = textwrap.wrap(title, 18)
    pen.multiline_text((6, 6), "\n".join(lines[:9]), fill=(20, 20, 20))
    return img


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=None)
    parser.add_argument("--user", default=None)
    parser.add_argument("--cache-dir", default=default_cache_dir())
    args = parser.parse_args()
    if args.artifacts is not None and (args.artifacts / "manifest.json").is_file():
        rec = Recommender.load(args.artifacts)
    else:
        root = shared_data("ml-latest-small").parent
        dataset, _ = attach_images(load_dataset("ml-latest-small", data_root=root), shared_data("movielens-posters"))
        config = RecommenderConfig(
            encoder="minilm", encoder_threads=1, cache_dir=args.cache_dir, image_content="signal"
        )
        rec = Recommender(config).fit(dataset)
        rec.save(args.artifacts or Path("artifacts/ml-latest-small-posters"))
    state = rec.state_
    assert state.item_pictures is not None, "the recommender has no pictures"
    has = state.item_pictures.has

    def liked(user: str) -> list[int]:
        profile = rec.profile(user)
        seen = [int(i) for i in dict.fromkeys(profile.seen_items[::-1].tolist())]
        disliked = set(profile.dislikes)
        return [i for i in seen if i not in disliked][:30]

    user = args.user or max(state.user_ids[:200], key=lambda u: sum(bool(has[i]) for i in liked(u)))
    top_liked = [i for i in liked(user) if has[i]][:10]
    recs = rec.recommend(user, k=10)
    titles = state.catalog.titles
    sheet = Image.new("RGB", (10 * W + 11 * 4, 2 * H + 3 * 4 + 40), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    pen.text((4, 2), f"user {user}: latest liked movies with a poster", fill=(0, 0, 0))
    for n, item in enumerate(top_liked):
        sheet.paste(tile(state.picture(item), titles[item]), (4 + n * (W + 4), 16))
    pen.text((4, H + 22), "top-10 (text + image recommender); grey = no poster", fill=(0, 0, 0))
    for n, r in enumerate(recs):
        sheet.paste(tile(state.picture(r.item), titles[r.item]), (4 + n * (W + 4), H + 36))
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT / "montage.jpg", quality=85)
    summary = {
        "user": user,
        "liked": [titles[i] for i in top_liked],
        "top10": [
            {
                "title": titles[r.item],
                "poster": bool(has[r.item]),
                "reason": r.explanation.reason if r.explanation else None,
                "visual_share": r.contributions.get("visual"),
                "explanation": r.explanation.text if r.explanation else None,
            }
            for r in recs
        ],
    }
    (OUT / "montage.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
