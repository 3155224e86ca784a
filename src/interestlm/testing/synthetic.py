"""Planted interest structure at any scale: the known answer of the scale benchmark.

:func:`synthetic` generates a catalogue and an interaction log of a chosen size (by default
``scale`` times ml-latest-small: 610 users, 9,742 items, 100,836 ratings) whose structure is
known exactly:

- **Topics** are a style crossed with a domain ("retro jazz", "alpine hiking", ...): a domain
  brings nouns, keywords and brands, a style adjectives and keywords, so every topic has its own
  vocabulary and topics of one domain (or style) share part of it, as sub-genres do. Up to
  ``len(DOMAINS) * len(STYLES)`` topics exist; by default ``20 * sqrt(scale)`` (8 to 200).
- **Items** belong to one topic each (``catalog.categories[i][0]`` is its name, the domain
  second); titles are ``<adjective> <noun> <name>`` with a name unique to the item, descriptions
  and tags are drawn from the topic's vocabulary. Topic sizes are mildly skewed, and inside a
  topic popularity follows a Zipf law (``p(rank r) ~ (r + 2) ** -zipf``).
- **Users** follow one to three topics with Dirichlet shares. A history is a weighted sample
  without replacement: each draw picks a topic by the user's shares, then an item by its
  popularity, and repeats are skipped. About ``dislike_rate`` of the rows are dislikes (rated 1
  to 2) of an item outside the user's topics; likes are rated 3.5 to 5. History lengths are
  log-normal (at least 5, at most half of the user's topics' items) and sum to exactly
  ``n_interactions``; timestamps increase along each history.
- **The held-out next item** of every user (:attr:`Planted.next_item`, *not* in the log) is the
  next draw of the same process: a liked, unseen item of one of their topics. Recall@10 of those
  items is the planted recall; :meth:`Planted.oracle_top_k` ranks by the true next-item
  probability, the ceiling any recommender can reach.

Everything is vectorised with numpy (no per-user Python loop): 1M items and 10M interactions
generate in seconds. Deterministic given ``seed``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from interestlm.core.tables import KIND_CODE, Catalog, Dataset, Interactions
from interestlm.core.types import IntArray
from interestlm.testing.planted import _TOPICS

#: ml-latest-small's size (users, items, interactions): ``scale=1``.
ML_LATEST_SMALL = (610, 9_742, 100_836)

#: Ratings at or above this are likes; dislikes are rated 1 to 2.
LIKE_THRESHOLD = 3.0
#: Rows of a history at least (the held-out next item comes on top).
MIN_HISTORY = 5
#: A history takes at most this share of the items of the user's topics.
MAX_HISTORY_SHARE = 0.5
#: Items per topic at least.
MIN_TOPIC_ITEMS = 20

#: A vectorised draw: users -> their topics, or topics -> items.
_Draw = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]]

_START = 1_500_000_000
_YEAR = 365 * 86_400


@dataclass(frozen=True)
class _Domain:
    name: str
    nouns: tuple[str, ...]
    keywords: tuple[str, ...]
    brands: tuple[str, ...]


def _domain(name: str, nouns: str, keywords: str, brands: str) -> _Domain:
    return _Domain(
        name=name,
        nouns=tuple(n.strip() for n in nouns.split(",")),
        keywords=tuple(k.strip() for k in keywords.split(",")),
        brands=tuple(b.strip() for b in brands.split(",")),
    )


# The planted fixture's eight topics are the first domains; the rest are written here.
_MORE_DOMAINS: tuple[tuple[str, str, str, str], ...] = (
    (
        "knitting",
        "Yarn, Needles, Pattern Book, Scarf, Sweater, Wool Skein",
        "yarn, stitch, wool, crochet, purl, cable knit",
        "Drops, Lion Brand",
    ),
    (
        "pottery",
        "Clay, Pottery Wheel, Glaze Set, Kiln, Vase, Bowl",
        "ceramics, glaze, kiln, throwing, stoneware, porcelain",
        "Amaco, Shimpo",
    ),
    (
        "aquarium",
        "Fish Tank, Filter, Coral, Aquarium Heater, Gravel, Tetra",
        "fish, coral, reef, filter, freshwater, aquascape",
        "Fluval, Tetra Labs",
    ),
    (
        "cycling",
        "Road Bike, Helmet, Bike Light, Saddle, Cycling Jersey, Pedals",
        "cycling, gears, saddle, peloton, climb, sprint",
        "Trek, Shimano",
    ),
    (
        "yoga",
        "Yoga Mat, Yoga Block, Strap, Meditation Cushion, Leggings, Bolster",
        "yoga, meditation, asana, breathing, stretch, balance",
        "Manduka, Gaiam",
    ),
    (
        "coffee",
        "Espresso Machine, Grinder, Pour Over, Coffee Beans, Milk Frother, Kettle",
        "espresso, roast, brew, crema, barista, arabica",
        "Breville, Hario",
    ),
    (
        "woodworking",
        "Chisel, Hand Plane, Workbench, Saw, Wood Glue, Router",
        "woodworking, joinery, lumber, carving, sanding, dovetail",
        "Stanley, Festool",
    ),
    (
        "painting",
        "Watercolor Set, Easel, Brushes, Canvas, Oil Paints, Palette",
        "painting, canvas, watercolor, brushwork, pigment, acrylic",
        "Winsor, Liquitex",
    ),
    (
        "baking",
        "Stand Mixer, Bread Pan, Sourdough Starter, Rolling Pin, Pastry Bag, Flour",
        "baking, sourdough, dough, pastry, yeast, crust",
        "KitchenAid, King Arthur",
    ),
    (
        "fishing",
        "Fishing Rod, Reel, Tackle Box, Lures, Fly Line, Waders",
        "fishing, angler, bait, trout, casting, tackle",
        "Shakespeare, Orvis",
    ),
    (
        "skiing",
        "Skis, Ski Goggles, Ski Boots, Ski Poles, Snow Jacket, Avalanche Beacon",
        "skiing, powder, slope, snow, downhill, backcountry ski",
        "Rossignol, Atomic",
    ),
    (
        "surfing",
        "Surfboard, Wetsuit, Leash, Surf Wax, Fins, Board Bag",
        "surfing, waves, swell, reef break, paddle, barrel",
        "Billabong, Quiksilver",
    ),
    (
        "gaming",
        "Game Controller, Headset, Gaming Mouse, Console, Keyboard, Strategy Game",
        "gaming, console, multiplayer, quest, controller, arcade",
        "Nintendo, Razer",
    ),
    (
        "birding",
        "Binoculars, Field Guide, Bird Feeder, Spotting Scope, Nest Box, Bird Bath",
        "birds, birdwatching, songbird, migration, warbler, feeder",
        "Audubon, Swarovski",
    ),
    (
        "cinema",
        "Film Box Set, Projector, Director's Cut, Screenplay, Film Poster, Documentary",
        "film, director, cinema, screenplay, cinematography, festival",
        "Criterion, Arrow",
    ),
    (
        "poetry",
        "Poetry Collection, Anthology, Notebook, Sonnet Book, Verse Reader, Chapbook",
        "poetry, verse, sonnet, rhyme, stanza, poet",
        "Faber, Penguin",
    ),
    (
        "running",
        "Running Shoes, Running Watch, Hydration Vest, Running Shorts, Headlamp, Foam Roller",
        "running, marathon, pace, trail run, endurance, stride",
        "Brooks, Garmin",
    ),
    (
        "tea",
        "Teapot, Loose Leaf Tea, Tea Set, Matcha Whisk, Infuser, Tea Caddy",
        "tea, oolong, matcha, steeping, green tea, ceremony",
        "Teavana, Harney",
    ),
    (
        "robotics",
        "Robot Kit, Microcontroller, Servo Motor, Sensor Pack, Drone, Soldering Iron",
        "robotics, circuits, sensors, programming, servo, automation",
        "Arduino, Raspberry",
    ),
    (
        "sailing",
        "Sailboat, Life Jacket, Compass, Sailing Gloves, Rope Kit, Nautical Chart",
        "sailing, regatta, knots, harbor, mast, navigation",
        "Harken, Musto",
    ),
    (
        "climbing",
        "Climbing Shoes, Harness, Carabiner, Chalk Bag, Rope, Belay Device",
        "climbing, bouldering, belay, crag, rope, ascent",
        "Petzl, La Sportiva",
    ),
    (
        "opera",
        "Opera Recording, Libretto, Aria Collection, Opera Glasses, Score, Box Set",
        "opera, aria, soprano, tenor, libretto, orchestra",
        "Deutsche, Decca",
    ),
    (
        "camping",
        "Sleeping Bag, Camp Stove, Lantern, Camp Chair, Cooler, Hammock",
        "camping, campfire, outdoors, tent, cookout, stargazing",
        "Coleman, Kelty",
    ),
    (
        "perfume",
        "Eau de Parfum, Cologne, Perfume Oil, Scented Candle, Atomizer, Gift Set",
        "fragrance, perfume, scent, floral, musk, citrus",
        "Chanel, Dior",
    ),
)

#: The topic domains (the planted fixture's eight first).
DOMAINS: tuple[_Domain, ...] = tuple(
    _Domain(name=t.name, nouns=t.nouns, keywords=t.keywords, brands=t.brands) for t in _TOPICS
) + tuple(_domain(*row) for row in _MORE_DOMAINS)

#: The topic styles: name, title adjectives, keywords.
STYLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("classic", ("Classic", "Timeless", "Traditional", "Heritage"), ("classic", "tradition", "heritage")),
    ("modern", ("Modern", "Sleek", "Smart", "Minimalist"), ("modern", "design", "innovation")),
    ("vintage", ("Vintage", "Antique", "Retro", "Old School"), ("vintage", "nostalgia", "collector")),
    ("budget", ("Budget", "Starter", "Essential", "Basic"), ("affordable", "beginner", "value")),
    ("luxury", ("Luxury", "Premium", "Deluxe", "Signature"), ("luxury", "premium", "handcrafted")),
    ("kids", ("Junior", "Kids", "Playful", "Family"), ("kids", "family", "learning")),
    ("eco", ("Eco", "Recycled", "Sustainable", "Natural"), ("sustainable", "eco friendly", "organic")),
    ("pro", ("Professional", "Expert", "Competition", "Elite"), ("professional", "performance", "expert")),
    ("travel", ("Travel", "Portable", "Pocket", "Foldable"), ("travel", "portable", "lightweight")),
    ("festive", ("Holiday", "Festive", "Limited Edition", "Gift"), ("holiday", "gift", "celebration")),
)

#: Topics that can be generated (every domain with every style).
MAX_TOPICS = len(DOMAINS) * len(STYLES)

# Syllables of the unique names in titles (item index written in base len(_SYLLABLES)).
_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


def topic_names(n_topics: int) -> tuple[str, ...]:
    """The first ``n_topics`` topic names ("<style> <domain>"): every domain once before any twice."""
    if not 1 <= n_topics <= MAX_TOPICS:
        raise ValueError(f"n_topics must be between 1 and {MAX_TOPICS}, got {n_topics}")
    return tuple(f"{STYLES[s][0]} {DOMAINS[d].name}" for d, s in _topic_parts(n_topics))


def _topic_parts(n_topics: int) -> list[tuple[int, int]]:
    # Topic t: domain t % D, style (k (D + 1) + d) % S with k = t // D; (D + 1) and S are coprime,
    # so a domain's k-th topic has a style none of its earlier topics had.
    n_domains, n_styles = len(DOMAINS), len(STYLES)
    assert math.gcd(n_domains + 1, n_styles) == 1
    return [(t % n_domains, ((t // n_domains) * (n_domains + 1) + t % n_domains) % n_styles) for t in range(n_topics)]


@dataclass(frozen=True, kw_only=True, eq=False)
class Planted:
    """The planted answer of a :func:`synthetic` dataset.

    ``item_topic[i]`` is item ``i``'s topic (a position in ``topics``) and ``item_prob[i]`` its
    probability inside that topic; ``user_topics[u]`` the user's topics (``-1`` padded, 3 columns)
    with ``user_shares[u]`` their shares; ``next_item[u]`` the user's held-out next item.
    """

    topics: tuple[str, ...]
    item_topic: IntArray
    item_prob: npt.NDArray[np.float64]
    user_topics: npt.NDArray[np.int32]
    user_shares: npt.NDArray[np.float64]
    next_item: IntArray

    def next_item_probability(self, user: int, items: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The (unnormalised) chance that ``items`` are user ``user``'s next draw, seen or not."""
        idx = np.asarray(items, dtype=np.int64)
        topics, shares = self.user_topics[user], self.user_shares[user]
        out = np.zeros(len(idx))
        for t, share in zip(topics.tolist(), shares.tolist(), strict=True):
            if t >= 0:
                out += share * self.item_prob[idx] * (self.item_topic[idx] == t)
        return out

    def oracle_top_k(self, seen: list[IntArray], k: int) -> npt.NDArray[np.int64]:
        """Each user's ``k`` unseen items of highest true next-item probability (``(n_users, k)``,
        ``-1`` padded): the planted ceiling. ``seen[u]`` are the items of user ``u``'s history."""
        n_topics = len(self.topics)
        by_topic = np.argsort(self.item_topic, kind="stable")
        # Inside each topic, items by falling probability: the first k + |seen| suffice.
        starts = np.searchsorted(self.item_topic[by_topic], np.arange(n_topics + 1))
        ranked = [
            by_topic[a:b][np.argsort(-self.item_prob[by_topic[a:b]], kind="stable")]
            for a, b in itertools.pairwise(starts)
        ]
        out = np.full((len(self.next_item), k), -1, dtype=np.int64)
        for u, history in enumerate(seen):
            pool = np.concatenate([ranked[t][: k + len(history)] for t in self.user_topics[u].tolist() if t >= 0])
            pool = pool[~np.isin(pool, history)]
            p = self.next_item_probability(u, pool)
            best = pool[np.lexsort((pool, -p))][:k]
            out[u, : len(best)] = best
        return out


@dataclass(frozen=True, kw_only=True, eq=False)
class Synthetic:
    """A :func:`synthetic` dataset (the observed log) and its planted answer."""

    dataset: Dataset
    planted: Planted


def synthetic_sizes(scale: float) -> tuple[int, int, int]:
    """``(n_users, n_items, n_interactions)`` of ``scale`` times ml-latest-small."""
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    users, items, rows = (max(1, round(n * scale)) for n in ML_LATEST_SMALL)
    return users, items, rows


def default_topics(scale: float) -> int:
    """Topics at ``scale``: ``20 * sqrt(scale)``, between 8 and 200."""
    return int(np.clip(round(20 * math.sqrt(scale)), 8, 200))


def synthetic(
    scale: float = 1.0,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    n_interactions: int | None = None,
    n_topics: int | None = None,
    zipf: float = 1.0,
    dislike_rate: float = 0.04,
    seed: int = 0,
) -> Synthetic:
    """A dataset with planted interest structure (see the module docstring) and its answer.

    Sizes default to ``scale`` times ml-latest-small (:func:`synthetic_sizes`), topics to
    :func:`default_topics`; ``n_interactions`` is met exactly (the held-out next items are
    extra). Raises ``ValueError`` when the sizes cannot hold the structure (fewer than
    ``MIN_TOPIC_ITEMS`` items per topic, or more interactions than the histories may take).
    """
    users0, items0, rows0 = synthetic_sizes(scale)
    n_users = users0 if n_users is None else n_users
    n_items = items0 if n_items is None else n_items
    n_rows = rows0 if n_interactions is None else n_interactions
    n_topics = default_topics(scale) if n_topics is None else n_topics
    names = topic_names(n_topics)
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    if n_items < MIN_TOPIC_ITEMS * n_topics:
        raise ValueError(f"{n_items} items cannot give {n_topics} topics {MIN_TOPIC_ITEMS} items each")
    if n_rows < MIN_HISTORY * n_users:
        raise ValueError(f"{n_rows} interactions cannot give {n_users} users {MIN_HISTORY} rows each")
    if not (zipf >= 0 and 0 <= dislike_rate < 0.5):
        raise ValueError("need zipf >= 0 and 0 <= dislike_rate < 0.5")
    rng = np.random.default_rng(seed)

    # Topic sizes (a mild skew, every topic at least MIN_TOPIC_ITEMS) and topic popularity.
    topic_weight = rng.permutation(1.0 / np.sqrt(np.arange(n_topics) + 3.0))
    topic_weight /= topic_weight.sum()
    sizes = MIN_TOPIC_ITEMS + rng.multinomial(n_items - MIN_TOPIC_ITEMS * n_topics, topic_weight)
    # Items in a random order; inside a topic, a random popularity rank.
    item_topic = rng.permutation(np.repeat(np.arange(n_topics, dtype=np.int32), sizes))
    by_topic = np.argsort(item_topic, kind="stable")
    starts = np.r_[0, np.cumsum(sizes)]
    rank = np.empty(n_items, dtype=np.int64)
    for t in range(n_topics):  # n_topics iterations, each vectorised over the topic's items
        rank[by_topic[starts[t] : starts[t + 1]]] = rng.permutation(sizes[t])
    weight = (rank + 2.0) ** -zipf
    topic_mass = np.bincount(item_topic, weights=weight, minlength=n_topics)
    item_prob = weight / topic_mass[item_topic]
    # Cumulative probability by topic, shifted by the topic index: item = searchsorted(t + r).
    order = np.lexsort((rank, item_topic))
    running = np.cumsum(item_prob[order])
    before = np.r_[0.0, running[starts[1:-1] - 1]]
    cdf = item_topic[order] + running - np.repeat(before, sizes)

    def draw_items(topics: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        at = np.searchsorted(cdf, topics + rng.random(len(topics)), side="right")
        at = np.minimum(at, n_items - 1)
        # Float rounding at a topic's end may step into the next topic: stay in this one.
        at = np.where(item_topic[order[at]] == topics, at, starts[topics + 1] - 1)
        return order[at].astype(np.int64)

    # Users: 1-3 topics (Gumbel top-k by topic popularity) with Dirichlet shares.
    n_own = rng.choice(3, size=n_users, p=(0.45, 0.35, 0.20)) + 1
    n_own = np.minimum(n_own, n_topics)
    keys = np.log(topic_weight)[None, :] + rng.gumbel(size=(n_users, n_topics))
    top3 = np.argsort(-keys, axis=1)[:, : min(3, n_topics)].astype(np.int32)
    user_topics = np.full((n_users, 3), -1, dtype=np.int32)
    shares = np.zeros((n_users, 3))
    for j in range(min(3, n_topics)):
        on = n_own > j
        user_topics[on, j] = top3[on, j]
        shares[on, j] = rng.gamma(2.0, size=int(on.sum()))
    shares /= shares.sum(axis=1, keepdims=True)
    cum_shares = np.cumsum(shares, axis=1)

    def draw_topics(users: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        r = rng.random(len(users))[:, None]
        slot = np.minimum((r > cum_shares[users]).sum(axis=1), n_own[users] - 1)
        picked: npt.NDArray[np.int64] = user_topics[users, slot].astype(np.int64)
        return picked

    lengths = _history_lengths(rng, n_rows, n_users, user_topics, sizes)
    users, items, disliked = _histories(rng, lengths, user_topics, item_topic, dislike_rate, draw_topics, draw_items)
    next_item = _next_items(rng, users, items, n_items, draw_topics, draw_items)

    # Times: each user starts somewhere in a year and acts every ~day after that.
    counts = np.bincount(users, minlength=n_users)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    gaps = rng.exponential(86_400.0, size=len(users)).astype(np.int64) + 60
    run = np.cumsum(gaps)
    timestamps = _START + rng.integers(0, _YEAR, size=n_users)[users] + run - run[first] + gaps[first]
    likes = np.asarray([3.5, 4.0, 4.5, 5.0], dtype=np.float32)[rng.choice(4, size=len(users), p=(0.2, 0.3, 0.25, 0.25))]
    dislikes = np.asarray([1.0, 1.5, 2.0], dtype=np.float32)[rng.integers(0, 3, size=len(users))]
    interactions = Interactions.build(
        user=users.astype(np.int32),
        item=items.astype(np.int32),
        user_ids=[f"u{u}" for u in range(n_users)],
        timestamp=timestamps,
        rating=np.where(disliked, dislikes, likes),
        kind=np.full(len(users), KIND_CODE["rating"], dtype=np.int8),
    )
    catalog = _catalog(rng, item_topic, n_topics)
    dataset = Dataset(name=f"synthetic-{n_users}x{n_items}", catalog=catalog, interactions=interactions, has_time=True)
    planted = Planted(
        topics=names,
        item_topic=item_topic,
        item_prob=item_prob,
        user_topics=user_topics,
        user_shares=shares,
        next_item=next_item.astype(np.int32),
    )
    return Synthetic(dataset=dataset, planted=planted)


def _history_lengths(
    rng: np.random.Generator,
    n_rows: int,
    n_users: int,
    user_topics: npt.NDArray[np.int32],
    sizes: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Log-normal lengths in ``[MIN_HISTORY, cap]`` summing to exactly ``n_rows``."""
    topic_items = np.where(user_topics >= 0, sizes[np.maximum(user_topics, 0)], 0).sum(axis=1)
    cap = np.maximum(MIN_HISTORY, np.floor(MAX_HISTORY_SHARE * topic_items)).astype(np.int64)
    if cap.sum() < n_rows:
        raise ValueError(f"{n_rows} interactions are more than {n_users} users' histories may hold ({cap.sum()})")
    raw = rng.lognormal(0.0, 0.9, size=n_users)
    lo, hi = 0.0, float(n_rows) / raw.min() + 1.0
    for _ in range(100):  # bisection on the scale so the clipped lengths sum to about n_rows
        mid = (lo + hi) / 2
        total = np.clip(np.floor(raw * mid), MIN_HISTORY, cap).sum()
        lo, hi = (mid, hi) if total < n_rows else (lo, mid)
    lengths = np.clip(np.floor(raw * lo), MIN_HISTORY, cap).astype(np.int64)
    # The remainder, one row at a time on users with room (random order).
    short = n_rows - int(lengths.sum())
    while short > 0:
        room = np.flatnonzero(lengths < cap)
        pick = rng.permutation(room)[:short]
        lengths[pick] += 1
        short -= len(pick)
    return lengths


def _histories(
    rng: np.random.Generator,
    lengths: npt.NDArray[np.int64],
    user_topics: npt.NDArray[np.int32],
    item_topic: IntArray,
    dislike_rate: float,
    draw_topics: _Draw,
    draw_items: _Draw,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Every user's history (user-major, in order): the first ``lengths[u]`` distinct draws.

    The distinct items of i.i.d. popularity draws, in order of first occurrence, are a weighted
    sample without replacement; users still short after a round draw again (more each round).
    """
    n_users, n_items = len(lengths), len(item_topic)
    users = np.zeros(0, np.int64)
    items = np.zeros(0, np.int64)
    bad = np.zeros(0, bool)
    factor = 1.5
    need = lengths.copy()
    while need.any():
        who = np.flatnonzero(need)
        n_draw = np.ceil(need[who] * factor).astype(np.int64) + 2
        du = np.repeat(who, n_draw)
        di = draw_items(draw_topics(du))
        dislike = rng.random(len(du)) < dislike_rate
        if dislike.any():
            # A dislike: an item of a topic the user does not follow (any item; redrawn if not).
            other = rng.integers(0, n_items, size=int(dislike.sum()))
            foreign = ~(item_topic[other][:, None] == user_topics[du[dislike]]).any(axis=1)
            dislike[np.flatnonzero(dislike)[~foreign]] = False
            di[dislike] = other[foreign]
        users = np.concatenate([users, du])
        items = np.concatenate([items, di])
        bad = np.concatenate([bad, dislike])
        # Keep each (user, item) once, at its first draw; then each user's first lengths[u].
        _, first = np.unique(users * n_items + items, return_index=True)
        first.sort(kind="stable")
        # Rows are in draw order per round, so order by (user, draw position) before truncating.
        keep = first[np.argsort(users[first], kind="stable")]
        users, items, bad = users[keep], items[keep], bad[keep]
        counts = np.bincount(users, minlength=n_users)
        position = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts, counts)
        within = position < lengths[users]
        users, items, bad = users[within], items[within], bad[within]
        need = lengths - np.bincount(users, minlength=n_users)
        factor *= 2
    return users, items, bad


def _next_items(
    rng: np.random.Generator,
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    n_items: int,
    draw_topics: _Draw,
    draw_items: _Draw,
) -> npt.NDArray[np.int64]:
    """Each user's next draw: a liked item of their topics not in their history."""
    n_users = int(users.max()) + 1 if len(users) else 0
    seen = np.sort(users * n_items + items)
    out = np.full(n_users, -1, dtype=np.int64)
    tries = 8
    while (out < 0).any():
        who = np.repeat(np.flatnonzero(out < 0), tries)
        cand = draw_items(draw_topics(who))
        key = who * n_items + cand
        at = np.minimum(np.searchsorted(seen, key), max(len(seen) - 1, 0))
        fresh = seen[at] != key if len(seen) else np.ones(len(key), bool)
        # The first fresh candidate of each user (rows are grouped by user, in draw order).
        ok_users, first = np.unique(who[fresh], return_index=True)
        out[ok_users] = cand[fresh][first]
        tries *= 2
    return out


def _catalog(rng: np.random.Generator, item_topic: IntArray, n_topics: int) -> Catalog:
    """Titles, descriptions, categories, tags and brands from each item's topic vocabulary."""
    n_items = len(item_topic)
    parts = _topic_parts(n_topics)
    names = topic_names(n_topics)
    domain = np.asarray([d for d, _ in parts])[item_topic]
    style = np.asarray([s for _, s in parts])[item_topic]
    adj = rng.integers(0, 4, size=n_items)
    noun = rng.integers(0, 6, size=n_items)
    kw = np.argsort(rng.random((n_items, 6)), axis=1)[:, :2]
    style_kw = rng.integers(0, 3, size=n_items)
    brand = rng.integers(0, 2, size=n_items)
    base = len(_SYLLABLES)
    ids = rng.permutation(n_items) + base  # two syllables at least
    titles: list[str] = []
    descriptions: list[str] = []
    categories: list[tuple[str, ...]] = []
    tags: list[tuple[str, ...]] = []
    brands: list[str] = []
    columns = (item_topic, domain, style, adj, noun, kw, style_kw, brand, ids)
    for t, d, s, a, n, (k1, k2), sk, b, x in zip(*(c.tolist() for c in columns), strict=True):
        dom, (style_name, adjectives, style_words) = DOMAINS[d], STYLES[s]
        name = ""
        while x:
            x, r = divmod(x, base)
            name += _SYLLABLES[r]
        adjective, thing = adjectives[a], dom.nouns[n % len(dom.nouns)]
        words = (dom.keywords[k1 % len(dom.keywords)], dom.keywords[k2 % len(dom.keywords)], style_words[sk])
        titles.append(f"{adjective} {thing} {name.capitalize()}")
        descriptions.append(
            f"A {adjective.lower()} {thing.lower()} for {dom.name} fans: {words[0]} and {words[1]}, "
            f"{style_name} and {words[2]}."
        )
        categories.append((names[t], dom.name))
        tags.append(words)
        brands.append(dom.brands[b % len(dom.brands)])
    return Catalog.build(
        [f"i{i}" for i in range(n_items)],
        titles=titles,
        descriptions=descriptions,
        categories=categories,
        tags=tags,
        brands=brands,
    )
