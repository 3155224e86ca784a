"""Item pictures: a folder of ``<item_id>.jpg|jpeg|png|webp`` files attached to a catalogue.

Missing pictures are the normal case (an item without one keeps ``""``). A file that exists but
cannot be decoded is named in the report, counted, and its item stays picture-less: the run goes
on with everything that was readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from interestlm.core.errors import DataError
from interestlm.core.tables import Catalog, Dataset

#: File name endings tried for each item id, in this order.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
#: Images larger than this many pixels are refused (a decompression bomb, not a picture).
MAX_PIXELS = 40_000_000


@dataclass(frozen=True, kw_only=True)
class ImageReport:
    """What attaching a folder found: readable pictures, unreadable files (path, reason), unknown files."""

    folder: str
    n_items: int
    with_image: int
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    unmatched_files: int = 0

    def summary(self) -> str:
        """One line per fact, for people."""
        lines = [f"items with images: {self.with_image:,} of {self.n_items:,}"]
        if self.unreadable:
            lines.append(f"unreadable images: {len(self.unreadable):,} (their items have no picture)")
            lines.extend(f"  {path}: {why}" for path, why in self.unreadable[:20])
        if self.unmatched_files:
            lines.append(f"image files of no catalogue item: {self.unmatched_files:,}")
        return "\n".join(lines)


def check_image(path: str | Path) -> str | None:
    """None when ``path`` decodes as a picture, else the reason it does not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                return f"{img.width}x{img.height} pixels is over the {MAX_PIXELS:,} limit"
            img.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        return f"not a readable image ({type(exc).__name__}: {exc})"
    return None


def find_images(catalog: Catalog, folder: str | Path, *, check: bool = True) -> tuple[list[str], ImageReport]:
    """Each item's picture path in ``folder`` ("" when none is there or it is unreadable), and the report."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(str(root), 0, "images", "is not a folder of item pictures")
    by_stem: dict[str, Path] = {}
    n_files = 0
    for path in sorted(root.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            n_files += 1
            by_stem.setdefault(path.stem, path)
    paths: list[str] = []
    unreadable: list[tuple[str, str]] = []
    matched = 0
    for item_id in catalog.item_ids.tolist():
        found = by_stem.get(str(item_id))
        if found is None:
            paths.append("")
            continue
        path = found
        matched += 1
        why = check_image(path) if check else None
        if why is not None:
            unreadable.append((str(path), why))
            paths.append("")
        else:
            paths.append(str(path.resolve()))
    report = ImageReport(
        folder=str(root),
        n_items=len(catalog),
        with_image=sum(1 for p in paths if p),
        unreadable=unreadable,
        unmatched_files=n_files - matched,
    )
    return paths, report


def attach_images(dataset: Dataset, folder: str | Path, *, check: bool = True) -> tuple[Dataset, ImageReport]:
    """``dataset`` whose catalogue names each item's picture in ``folder`` (see :func:`find_images`);
    unreadable files are counted in the dataset's report notes."""
    paths, report = find_images(dataset.catalog, folder, check=check)
    dataset.report.note("unreadable images (items kept without a picture)", len(report.unreadable))
    return replace(dataset, catalog=replace(dataset.catalog, images=paths)), report
