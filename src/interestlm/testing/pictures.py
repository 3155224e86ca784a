"""Pictures drawn for tests (no dataset images in the repository): one colour per planted genre."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from interestlm.core.tables import Dataset
from interestlm.testing.genres import GENRES

#: One colour per planted genre (in :data:`~interestlm.testing.genres.GENRES` order).
COLOURS: list[tuple[int, int, int]] = [(220, 30, 30), (30, 30, 220), (30, 180, 30), (230, 200, 20), (160, 40, 200)]


def draw(colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (60, 90)) -> bytes:
    """A poster-like JPEG: a background of ``colour`` with a darker ellipse placed by ``seed``."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, colour)
    pen = ImageDraw.Draw(img)
    x, y = (int(v) for v in rng.integers(0, 30, 2))
    pen.ellipse((x, y, x + 25, y + 40), fill=tuple(max(c - 80, 0) for c in colour))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def poster_folder(dataset: Dataset, folder: Path, *, every: int = 3) -> Path:
    """Pictures of a planted-genres catalogue in its genre's colour for all but one in ``every``
    films, plus one corrupt file (``0-1.jpg``) and one file of no catalogue item."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = dataset.catalog
    for n, (item_id, cats) in enumerate(zip(catalog.item_ids.tolist(), catalog.categories, strict=True)):
        if n % every == every - 1:
            continue
        genre = list(GENRES).index(cats[0])
        (folder / f"{item_id}.jpg").write_bytes(draw(COLOURS[genre], n))
    (folder / "0-1.jpg").write_bytes(b"not a jpeg at all")
    (folder / "no-such-film.png").write_bytes(draw((0, 0, 0), 0))
    return folder
