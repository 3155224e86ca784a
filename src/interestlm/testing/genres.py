"""A tiny film catalogue with genres spelled as MovieLens spells them ("Sci-Fi", "Film-Noir"),
for tests of concept names, edits and text-built users.

Each genre has its own words in titles and descriptions; every user watches films of one or two
genres (ratings 4-5) in time order, so a planted answer is always known: a user's genres.
"""

from __future__ import annotations

import numpy as np

from interestlm.core.tables import Catalog, Dataset, Interactions

#: Genre -> words its films are described with.
GENRES: dict[str, tuple[str, ...]] = {
    "Sci-Fi": ("spaceship", "alien", "robot", "galaxy", "time travel", "android"),
    "Film-Noir": ("detective", "femme fatale", "shadows", "murder", "private eye", "rain"),
    "Horror": ("haunted", "zombie", "slasher", "ghost", "scream", "curse"),
    "Comedy": ("wedding", "prank", "road trip", "roommates", "sitcom", "laughs"),
    "Animation": ("cartoon", "talking animals", "princess", "toys", "adventure", "musical"),
}


def planted_genres(*, films_per_genre: int = 12, users_per_genre: int = 8, seed: int = 0) -> Dataset:
    """The catalogue (``films_per_genre`` per genre, ids ``<genre index>-<n>``) and a log where
    user ``u<g>-<n>`` follows genre ``g`` and every second user also a neighbouring genre."""
    rng = np.random.default_rng(seed)
    names = list(GENRES)
    ids, titles, texts, cats = [], [], [], []
    for g, genre in enumerate(names):
        words = GENRES[genre]
        for n in range(films_per_genre):
            a, b = rng.choice(len(words), 2, replace=False)
            ids.append(f"{g}-{n}")
            titles.append(f"The {words[a].title()} {n}")
            texts.append(f"A {genre.lower()} film about {words[a]} and {words[b]}.")
            cats.append((genre,))
    catalog = Catalog.build(ids, titles=titles, descriptions=texts, categories=cats)
    users: list[int] = []
    items: list[int] = []
    times: list[int] = []
    ratings: list[float] = []
    user_ids: list[str] = []
    for g in range(len(names)):
        for n in range(users_per_genre):
            u = len(user_ids)
            user_ids.append(f"u{g}-{n}")
            genres = [g] if n % 2 == 0 else [g, (g + 1) % len(names)]
            pool = np.concatenate([np.arange(x * films_per_genre, (x + 1) * films_per_genre) for x in genres])
            chosen = rng.choice(pool, size=min(len(pool), 8), replace=False)
            for step, item in enumerate(chosen.tolist()):
                users.append(u)
                items.append(int(item))
                times.append(1_000_000 + 3600 * (u * 20 + step))
                ratings.append(float(rng.choice([4.0, 4.5, 5.0])))
    interactions = Interactions.build(
        user=np.asarray(users), item=np.asarray(items), user_ids=user_ids, timestamp=np.asarray(times),
        rating=np.asarray(ratings, dtype=np.float32),
    )
    return Dataset(name="planted-genres", catalog=catalog, interactions=interactions)
