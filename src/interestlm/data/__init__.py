"""Data: canonical tables, validation with clear errors, dataset readers, k-core and statistics."""

from interestlm.core.errors import DataError, LoadReport, OnError, RowGuard
from interestlm.core.tables import KINDS, Catalog, Dataset, Interactions
from interestlm.data.build import assemble
from interestlm.data.describe import DatasetStats, describe
from interestlm.data.frames import from_pandas
from interestlm.data.kcore import kcore
from interestlm.data.readers import (
    ColumnMap,
    ItemColumnMap,
    read_amazon,
    read_amazon_meta,
    read_item_attributes,
    read_item_table,
    read_lastfm_friends,
    read_lastfm_hetrec,
    read_mind,
    read_mind_news,
    read_movielens,
    read_movielens_1m,
    read_movielens_100k,
    read_recbole,
    read_recbole_items,
    read_s3rec,
    read_table,
    read_unisrec,
)
from interestlm.data.registry import DATASETS, DatasetInfo, default_data_root, load_dataset, load_path

__all__ = [
    "DATASETS",
    "KINDS",
    "Catalog",
    "ColumnMap",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "DatasetStats",
    "Interactions",
    "ItemColumnMap",
    "LoadReport",
    "OnError",
    "RowGuard",
    "assemble",
    "default_data_root",
    "describe",
    "from_pandas",
    "kcore",
    "load_dataset",
    "load_path",
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
