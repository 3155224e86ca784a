"""A tiny synthetic dataset with planted topics: the answer every recommender test can check.

Items belong to one topic each (jazz, kitchen, hiking, space, ...) and every text field is built
from that topic's own vocabulary, so text encoders and concept extraction both see the topic.
Most users stay inside one topic, some mix two; a few rate an item of a topic they do not follow
low (a dislike). Each user's last interaction is a well-rated item of one of their topics, so a
single-topic user's held-out item is of that topic: a good model must bring it back.

The topic of an item is its first category (``catalog.categories[i][0]``); use
:func:`planted_topic_of` and :func:`planted_user_topics` rather than parsing ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interestlm.core.tables import KIND_CODE, Catalog, Dataset, Interactions


@dataclass(frozen=True, kw_only=True)
class _Topic:
    name: str
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    keywords: tuple[str, ...]
    subtopics: tuple[str, ...]
    brands: tuple[str, ...]


_TOPICS: tuple[_Topic, ...] = (
    _Topic(
        name="jazz",
        adjectives=("Midnight", "Blue", "Smoky", "Swinging", "Cool", "Late Night", "Bebop", "Velvet"),
        nouns=("Saxophone", "Trumpet", "Piano Trio", "Big Band", "Standards", "Quartet"),
        keywords=("saxophone", "improvisation", "swing", "bebop", "trumpet", "double bass", "jazz club", "blues"),
        subtopics=("bebop", "cool jazz", "swing", "fusion"),
        brands=("Blue Note", "Verve", "Impulse"),
    ),
    _Topic(
        name="kitchen",
        adjectives=("Cast Iron", "Nonstick", "Copper", "Chef's", "Ceramic", "Stainless", "Rustic", "Compact"),
        nouns=("Skillet", "Saucepan", "Chef Knife", "Dutch Oven", "Cutting Board", "Wok"),
        keywords=("cooking", "recipe", "baking", "frying pan", "knife", "oven", "saute", "simmer"),
        subtopics=("cookware", "cutlery", "bakeware", "utensils"),
        brands=("Le Creuset", "Lodge", "Wusthof"),
    ),
    _Topic(
        name="hiking",
        adjectives=("Alpine", "Waterproof", "Trail", "Ultralight", "Rugged", "Summit", "Backcountry", "Canyon"),
        nouns=("Backpack", "Boots", "Trekking Poles", "Tent", "Rain Jacket", "Trail Map"),
        keywords=("trail", "mountain", "backpacking", "summit", "campsite", "trekking", "wilderness", "hiking"),
        subtopics=("backpacking", "camping", "trail running", "mountaineering"),
        brands=("Osprey", "Salomon", "Black Diamond"),
    ),
    _Topic(
        name="space",
        adjectives=("Stellar", "Orbital", "Lunar", "Galactic", "Cosmic", "Martian", "Deep Space", "Solar"),
        nouns=("Telescope", "Rocket", "Star Atlas", "Planetarium", "Space Station", "Nebula Guide"),
        keywords=("astronomy", "galaxy", "planet", "rocket", "orbit", "nebula", "astronaut", "telescope"),
        subtopics=("astronomy", "spaceflight", "planetary science", "cosmology"),
        brands=("Celestron", "NASA Press", "Orion"),
    ),
    _Topic(
        name="gardening",
        adjectives=("Heirloom", "Organic", "Raised Bed", "Perennial", "Herb", "Greenhouse", "Cottage", "Spring"),
        nouns=("Seed Kit", "Pruning Shears", "Compost Bin", "Watering Can", "Trowel", "Planter"),
        keywords=("garden", "seeds", "compost", "soil", "pruning", "flowers", "vegetables", "watering"),
        subtopics=("vegetables", "flowers", "herbs", "composting"),
        brands=("Fiskars", "Burpee", "Gardena"),
    ),
    _Topic(
        name="chess",
        adjectives=("Grandmaster", "Tournament", "Endgame", "Opening", "Tactical", "Blitz", "Classic", "Royal"),
        nouns=("Chess Set", "Chess Clock", "Opening Manual", "Puzzle Book", "Board", "Strategy Guide"),
        keywords=("chess", "checkmate", "gambit", "endgame", "opening", "rook", "bishop", "tactics"),
        subtopics=("openings", "endgames", "tactics", "tournaments"),
        brands=("House of Staunton", "Chessbase", "DGT"),
    ),
    _Topic(
        name="photography",
        adjectives=("Mirrorless", "Wide Angle", "Vintage", "Portrait", "Macro", "Full Frame", "Street", "Studio"),
        nouns=("Camera", "Lens", "Tripod", "Flash", "Camera Bag", "Light Meter"),
        keywords=("camera", "lens", "aperture", "exposure", "shutter", "portrait", "lighting", "photography"),
        subtopics=("portrait", "landscape", "street", "macro"),
        brands=("Nikon", "Leica", "Manfrotto"),
    ),
    _Topic(
        name="soccer",
        adjectives=("Pro", "Match", "Training", "Indoor", "Striker", "Stadium", "Youth", "Club"),
        nouns=("Football", "Cleats", "Goalkeeper Gloves", "Shin Guards", "Jersey", "Goal Net"),
        keywords=("soccer", "football", "goal", "striker", "midfield", "penalty", "dribbling", "league"),
        subtopics=("training", "matchday", "goalkeeping", "fan gear"),
        brands=("Adidas", "Puma", "Umbro"),
    ),
)

#: Names of the planted topics, in index order (``planted_topic_of`` returns a position here).
PLANTED_TOPICS: tuple[str, ...] = tuple(t.name for t in _TOPICS)

#: Ratings at or above this are likes in the planted data; dislikes are rated below 2.
LIKE_THRESHOLD = 3.0

_START = 1_600_000_000
_DAY = 86_400


_ItemText = tuple[str, str, tuple[str, ...], tuple[str, ...], str]


def _item_texts(topic: _Topic, j: int, rng: np.random.Generator) -> _ItemText:
    n_adj, n_noun = len(topic.adjectives), len(topic.nouns)
    combos = n_adj * n_noun
    adjective = topic.adjectives[j % n_adj]
    noun = topic.nouns[(j // n_adj) % n_noun]
    title = f"{adjective} {noun}"
    if j >= combos:
        title += f" Vol. {j // combos + 1}"
    words = rng.choice(len(topic.keywords), size=3, replace=False)
    kw = [topic.keywords[w] for w in words]
    subtopic = topic.subtopics[j % len(topic.subtopics)]
    description = (
        f"A {adjective.lower()} {noun.lower()} for {topic.name} lovers: {kw[0]}, {kw[1]} and {kw[2]}, "
        f"with a touch of {subtopic}."
    )
    categories = (topic.name, subtopic)
    tags = tuple(kw)
    brand = topic.brands[j % len(topic.brands)]
    return title, description, categories, tags, brand


def planted_topics(
    *, n_topics: int = 4, items_per_topic: int = 25, n_users: int = 40, history_len: int = 12, seed: int = 0
) -> Dataset:
    """A deterministic synthetic dataset with planted topics (see the module docstring).

    Items ``t * items_per_topic .. (t + 1) * items_per_topic - 1`` belong to topic ``t``. About a
    quarter of the users (when ``n_topics >= 2``) mix two topics; about a third of the users have
    one or two dislikes (rating 1 or 1.5, with a negative review) of an item of a topic they do
    not follow. Likes are rated 3.5 to 5. Every user has exactly ``history_len`` interactions
    with strictly increasing timestamps; the last one is always a like.
    """
    if not 1 <= n_topics <= len(_TOPICS):
        raise ValueError(f"n_topics must be between 1 and {len(_TOPICS)}, got {n_topics}")
    if items_per_topic < 2:
        raise ValueError(f"items_per_topic must be at least 2, got {items_per_topic}")
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    if not 2 <= history_len <= items_per_topic:
        raise ValueError(f"history_len must be between 2 and items_per_topic ({items_per_topic}), got {history_len}")
    rng = np.random.default_rng(seed)

    topics = _TOPICS[:n_topics]
    titles: list[str] = []
    descriptions: list[str] = []
    categories: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    brands: list[str] = []
    for topic in topics:
        for j in range(items_per_topic):
            title, description, cats, tgs, brand = _item_texts(topic, j, rng)
            titles.append(title)
            descriptions.append(description)
            categories.append(cats)
            tags.append(tgs)
            brands.append(brand)
    item_ids = [f"{topic.name}-{j:03d}" for topic in topics for j in range(items_per_topic)]
    catalog = Catalog.build(
        item_ids, titles=titles, descriptions=descriptions, categories=categories, tags=tags, brands=brands
    )

    # A mild popularity skew inside each topic, so popularity is a real (but weak) signal.
    popularity = 1.0 / (np.arange(items_per_topic) + 5.0)
    popularity /= popularity.sum()

    users: list[int] = []
    items: list[int] = []
    timestamps: list[int] = []
    ratings: list[float] = []
    reviews: list[str] = []
    n_mixed = n_users // 4 if n_topics >= 2 else 0
    mixed = set(rng.choice(n_users, size=n_mixed, replace=False).tolist()) if n_mixed else set()
    for u in range(n_users):
        own = rng.choice(n_topics, size=2 if u in mixed else 1, replace=False).tolist()
        n_dislikes = int(rng.integers(1, 3)) if (n_topics > len(own) and u % 3 == 2) else 0
        n_dislikes = min(n_dislikes, history_len - 1)
        n_likes = history_len - n_dislikes
        # Sample likes per own topic without replacement, so no item repeats in a history.
        shares = [n_likes // len(own) + (1 if k < n_likes % len(own) else 0) for k in range(len(own))]
        liked: list[int] = []
        for topic_index, share in zip(own, shares, strict=True):
            picks = rng.choice(items_per_topic, size=share, replace=False, p=popularity)
            liked.extend(int(topic_index * items_per_topic + p) for p in picks)
        rng.shuffle(liked)
        pool = [t * items_per_topic + j for t in range(n_topics) if t not in own for j in range(items_per_topic)]
        disliked = [int(i) for i in rng.choice(pool, size=n_dislikes, replace=False)] if n_dislikes else []
        sequence: list[tuple[int, float, str]] = []
        for i in liked:
            rating = float(rng.choice([3.5, 4.0, 4.5, 5.0]))
            review = f"Loved it, great {catalog.tags[i][0]}." if rng.random() < 0.25 else ""
            sequence.append((i, rating, review))
        for i in disliked:
            # Never the last position: the held-out item of every user is a like.
            position = int(rng.integers(0, len(sequence)))
            rating = float(rng.choice([1.0, 1.5]))
            sequence.insert(position, (i, rating, f"Not for me, boring {catalog.tags[i][0]}."))
        t = _START + u * 3_600 + int(rng.integers(0, 3_600))
        for i, rating, review in sequence:
            t += _DAY // 2 + int(rng.integers(0, _DAY))
            users.append(u)
            items.append(i)
            timestamps.append(t)
            ratings.append(rating)
            reviews.append(review)

    interactions = Interactions.build(
        user=users,
        item=items,
        user_ids=[f"u{u:03d}" for u in range(n_users)],
        timestamp=timestamps,
        rating=ratings,
        kind=np.full(len(users), KIND_CODE["rating"]),
        review=reviews,
    )
    return Dataset(name="planted-topics", catalog=catalog, interactions=interactions, has_time=True)


def planted_topic_of(dataset: Dataset, item: int) -> int:
    """The planted topic (a position in :data:`PLANTED_TOPICS`) of item index ``item``."""
    if not 0 <= item < dataset.n_items:
        raise ValueError(f"item {item} is not in the catalog of {dataset.n_items} items")
    cats = dataset.catalog.categories[item]
    if not cats or cats[0] not in PLANTED_TOPICS:
        raise ValueError(f"item {item} ({dataset.catalog.item_ids[item]}) has no planted topic as first category")
    return PLANTED_TOPICS.index(cats[0])


def planted_user_topics(dataset: Dataset, user: int) -> tuple[int, ...]:
    """The planted topics a user follows: topics of the items they rated at least ``LIKE_THRESHOLD``, sorted."""
    inter = dataset.interactions
    if not 0 <= user < inter.n_users:
        raise ValueError(f"user {user} is not one of the {inter.n_users} users")
    rows = np.flatnonzero((inter.user == user) & (inter.rating >= LIKE_THRESHOLD))
    return tuple(sorted({planted_topic_of(dataset, int(inter.item[r])) for r in rows}))


def planted_chains(
    *, n_topics: int = 3, items_per_topic: int = 12, n_users: int = 90, steps: int = 8, seed: int = 0
) -> Dataset:
    """Planted *order*: each user walks one topic's items in a fixed cycle (item j, then j + 1, ...).

    The catalog is :func:`planted_topics`'s; the next item after ``i`` is :func:`planted_next`
    ``(i, items_per_topic)``, a law a sequence model must learn (views, no ratings).
    """
    if not 2 <= steps <= items_per_topic:
        raise ValueError(f"steps must be between 2 and items_per_topic ({items_per_topic}), got {steps}")
    base = planted_topics(n_topics=n_topics, items_per_topic=items_per_topic, n_users=4, history_len=2, seed=seed)
    rng = np.random.default_rng(seed)
    topic = rng.integers(n_topics, size=n_users)
    start = rng.integers(items_per_topic, size=n_users)
    offsets = (start[:, None] + np.arange(steps)[None, :]) % items_per_topic
    items = (topic[:, None] * items_per_topic + offsets).ravel().astype(np.int32)
    interactions = Interactions.build(
        user=np.repeat(np.arange(n_users, dtype=np.int32), steps),
        item=items,
        user_ids=[f"u{u}" for u in range(n_users)],
        timestamp=np.arange(len(items), dtype=np.int64),
    )
    return Dataset(name="planted-chains", catalog=base.catalog, interactions=interactions, has_time=True)


def planted_next(item: int, items_per_topic: int) -> int:
    """The item that follows ``item`` in :func:`planted_chains`."""
    topic, j = divmod(item, items_per_topic)
    return topic * items_per_topic + (j + 1) % items_per_topic
