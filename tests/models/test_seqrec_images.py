"""SeqRec with item pictures: a catalogue where only the pictures (red or blue squares) say what
comes next, drawn here with PIL and encoded by the pixel stand-in."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from interestlm.core.protocol import TrainData
from interestlm.core.tables import Catalog, Interactions
from interestlm.encode.image import PixelEncoder
from interestlm.models.seqrec import SeqRec, SeqRecConfig, SeqRecScorer, item_content

N_PER_COLOUR = 24
N_USERS = 80
HISTORY = 10
# Every third item has no picture: missing pictures are the normal case.
NO_PICTURE = np.arange(2 * N_PER_COLOUR) % 3 == 2
FAST = SeqRecConfig(
    encoder="hashing", image_encoder="pixels", max_len=HISTORY, hidden=32, n_layers=1, n_heads=2, dropout=0.1,
    lr=5e-3, batch_size=16, epochs=25, patience=0, num_threads=1, concepts=False, item_id=False,
    calibrate_new_items=False, adaptor_dropout=0.0,
)  # fmt: skip


def _square(path: Path, red: bool, shade: int) -> str:
    colour = (200 + shade, 20 + shade, 30) if red else (30, 20 + shade, 200 + shade)
    Image.new("RGB", (32, 32), colour).save(path)
    return str(path)


def _colour(item: int) -> int:
    """0 = red, 1 = blue: items alternate, so index order says nothing of colour."""
    return item % 2


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("pictures")
    n = 2 * N_PER_COLOUR
    return ["" if NO_PICTURE[i] else _square(folder / f"{i}.png", _colour(i) == 0, i % 7) for i in range(n)]


@pytest.fixture(scope="module")
def train(pictures: list[str]) -> TrainData:
    n = len(pictures)
    # One text for every item: text carries nothing, so only pictures can tell colours apart.
    catalog = Catalog.build([f"item-{i}" for i in range(n)], titles=["A thing"] * n, images=pictures)
    rng = np.random.default_rng(0)
    users, items, times = [], [], []
    for u in range(N_USERS):
        # A user consumes items of one colour only.
        own = np.flatnonzero(np.arange(n) % 2 == u % 2)
        for t, item in enumerate(rng.choice(own, HISTORY, replace=False)):
            users.append(u)
            items.append(int(item))
            times.append(t)
    inter = Interactions.build(user=users, item=items, user_ids=[f"u{u}" for u in range(N_USERS)], timestamp=times)
    return TrainData(interactions=inter, catalog=catalog)


@pytest.fixture(scope="module")
def with_images(train: TrainData) -> SeqRec:
    return SeqRec(FAST, image=True).fit(train)


def _histories(train: TrainData) -> list[np.ndarray]:
    return [seq[:-1] for seq in train.sequences()]


def _colour_hit_rate(scores: np.ndarray, histories: list[np.ndarray], among: np.ndarray) -> float:
    """Share of histories whose best-scored item (of ``among``) has the history's colour."""
    best = among[scores[:, among].argmax(axis=1)]
    return float(np.mean([_colour(int(b)) == _colour(int(h[0])) for b, h in zip(best, histories, strict=True)]))


def test_pictures_carry_the_signal_text_cannot(with_images: SeqRec, train: TrainData) -> None:
    histories = _histories(train)
    users = np.arange(len(histories), dtype=np.int32)
    pictured = np.flatnonzero(~NO_PICTURE)
    without = SeqRec(FAST, image=False).fit(train)
    text_only = _colour_hit_rate(without.score(users, histories), histories, pictured)
    both = _colour_hit_rate(with_images.score(users, histories), histories, pictured)
    assert both >= 0.9
    assert both > text_only + 0.2
    assert with_images.report()["parts"] == ["text", "image"]
    assert with_images.report()["items_with_image"] == int((~NO_PICTURE).sum())


def test_items_without_a_picture_still_score(with_images: SeqRec, train: TrainData) -> None:
    histories = _histories(train)
    scores = with_images.score(np.arange(len(histories), dtype=np.int32), histories)
    assert np.isfinite(scores[:, NO_PICTURE]).all()
    vectors = with_images.item_vectors()
    assert np.linalg.norm(vectors[NO_PICTURE], axis=1).min() > 0


def test_a_new_item_with_only_a_picture_is_scored_by_the_image_path(
    with_images: SeqRec, train: TrainData, tmp_path: Path
) -> None:
    paths = [_square(tmp_path / "red.png", True, 3), _square(tmp_path / "blue.png", False, 3)]
    images = PixelEncoder().encode_images(paths).vectors
    scorer = SeqRecScorer(with_images).with_items(None, None, images)
    assert scorer.n_items == train.n_items + 2
    histories = _histories(train)
    scores = scorer.score(histories)
    red, blue = train.n_items, train.n_items + 1
    reds = np.asarray([_colour(int(h[0])) == 0 for h in histories])
    assert (scores[reds, red] > scores[reds, blue]).mean() >= 0.9
    assert (scores[~reds, blue] > scores[~reds, red]).mean() >= 0.9
    # Without a picture the new item is text alone: the same vector whatever colour it "is".
    plain = with_images.content_vectors(with_images.net_.tower.text[:2].cpu().numpy(), None, None)
    np.testing.assert_allclose(plain[0], plain[1], atol=1e-6)
    with pytest.raises(ValueError, match="image vectors"):
        with_images.content_vectors(None, None, np.ones((1, 3), dtype=np.float32))


def test_item_content_reads_pictures_only_when_asked(train: TrainData) -> None:
    content = item_content(train.catalog, train.interactions, replace(FAST, image=True))
    assert content.image_vectors is not None and content.image_vectors.shape == (train.n_items, 256)
    assert (np.abs(content.image_vectors[NO_PICTURE]).sum(axis=1) == 0).all()
    np.testing.assert_allclose(np.linalg.norm(content.image_vectors[~NO_PICTURE], axis=1), 1.0, rtol=1e-5)
    assert item_content(train.catalog, train.interactions, FAST).image_vectors is None


def test_save_and_load_keep_the_scores(with_images: SeqRec, train: TrainData, tmp_path: Path) -> None:
    loaded = SeqRec.load(with_images.save(tmp_path / "model"))
    histories = _histories(train)[:10]
    users = np.arange(len(histories), dtype=np.int32)
    np.testing.assert_allclose(loaded.score(users, histories), with_images.score(users, histories), rtol=1e-5)
    assert loaded.report()["parts"] == ["text", "image"]


def test_a_model_saved_before_pictures_still_loads(train: TrainData, tmp_path: Path) -> None:
    model = SeqRec(FAST, epochs=2).fit(train)
    directory = model.save(tmp_path / "old")
    # What a save of the code before pictures wrote: no image fields in the config or the meta.
    for name, keys in (("config.json", ("image", "image_encoder", "modality_dropout")), ("meta.json", ("image_dim",))):
        data = json.loads((directory / name).read_text())
        for key in keys:
            del data[key]
        (directory / name).write_text(json.dumps(data))
    loaded = SeqRec.load(directory)
    histories = _histories(train)[:5]
    users = np.arange(5, dtype=np.int32)
    np.testing.assert_allclose(loaded.score(users, histories), model.score(users, histories), rtol=1e-5)
    assert "image" not in loaded.report()["parts"]


def test_modality_dropout_only_in_training(train: TrainData) -> None:
    model = SeqRec(FAST, image=True, modality_dropout=0.9, epochs=1).fit(train)
    tower = model.net_.tower
    with torch.no_grad():
        tower.train()
        torch.manual_seed(0)
        first = tower()
        second = tower()
        assert not torch.allclose(first, second)
        # Items without a picture have only text: modality dropout never touches them.
        torch.testing.assert_close(first[torch.from_numpy(NO_PICTURE)], second[torch.from_numpy(NO_PICTURE)])
        tower.eval()
        torch.testing.assert_close(tower(), tower())
    np.testing.assert_array_equal(model.item_vectors(), model.item_vectors())


def test_config_checks_the_image_settings() -> None:
    with pytest.raises(ValueError, match="modality_dropout"):
        SeqRecConfig(modality_dropout=1.0)
    with pytest.raises(ValueError, match="image_encoder"):
        SeqRecConfig(image_encoder="nope")
    assert SeqRecConfig(text=False, concepts=False, item_id=False, image=True).image


def test_image_only_without_pictures_is_refused(train: TrainData) -> None:
    plain = replace(train, catalog=replace(train.catalog, images=[""] * train.n_items))
    with pytest.raises(ValueError, match="no pictures"):
        SeqRec(FAST, text=False, image=True).fit(plain)
