"""Dataset readers, one module per family; each returns a validated :class:`~interestlm.data.Dataset`."""

from interestlm.data.readers.amazon import read_amazon, read_amazon_meta
from interestlm.data.readers.generic import ColumnMap, ItemColumnMap, read_item_table, read_table
from interestlm.data.readers.hetrec import read_lastfm_friends, read_lastfm_hetrec
from interestlm.data.readers.mind import read_mind, read_mind_news
from interestlm.data.readers.movielens import read_movielens, read_movielens_1m, read_movielens_100k
from interestlm.data.readers.recbole import read_recbole, read_recbole_items, read_unisrec
from interestlm.data.readers.s3rec import read_item_attributes, read_s3rec

__all__ = [
    "ColumnMap",
    "ItemColumnMap",
    "read_amazon",
    "read_amazon_meta",
    "read_item_attributes",
    "read_item_table",
    "read_lastfm_friends",
    "read_lastfm_hetrec",
    "read_mind",
    "read_mind_news",
    "read_movielens",
    "read_movielens_1m",
    "read_movielens_100k",
    "read_recbole",
    "read_recbole_items",
    "read_s3rec",
    "read_table",
    "read_unisrec",
]
