"""Data: canonical tables, validation with clear errors, dataset readers, k-core and statistics.

Names are imported on first use (PEP 562): the readers pull in pandas, which a loaded recommender
never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interestlm.core.lazy import lazy_exports

if TYPE_CHECKING:
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

#: Public name -> the module that defines it.
_EXPORTS = {
    "Catalog": "interestlm.core.tables",
    "ColumnMap": "interestlm.data.readers",
    "DATASETS": "interestlm.data.registry",
    "DataError": "interestlm.core.errors",
    "Dataset": "interestlm.core.tables",
    "DatasetInfo": "interestlm.data.registry",
    "DatasetStats": "interestlm.data.describe",
    "Interactions": "interestlm.core.tables",
    "ItemColumnMap": "interestlm.data.readers",
    "KINDS": "interestlm.core.tables",
    "LoadReport": "interestlm.core.errors",
    "OnError": "interestlm.core.errors",
    "RowGuard": "interestlm.core.errors",
    "assemble": "interestlm.data.build",
    "default_data_root": "interestlm.data.registry",
    "describe": "interestlm.data.describe",
    "from_pandas": "interestlm.data.frames",
    "kcore": "interestlm.data.kcore",
    "load_dataset": "interestlm.data.registry",
    "load_path": "interestlm.data.registry",
    "read_amazon": "interestlm.data.readers",
    "read_amazon_meta": "interestlm.data.readers",
    "read_item_attributes": "interestlm.data.readers",
    "read_item_table": "interestlm.data.readers",
    "read_lastfm_friends": "interestlm.data.readers",
    "read_lastfm_hetrec": "interestlm.data.readers",
    "read_mind": "interestlm.data.readers",
    "read_mind_news": "interestlm.data.readers",
    "read_movielens": "interestlm.data.readers",
    "read_movielens_100k": "interestlm.data.readers",
    "read_movielens_1m": "interestlm.data.readers",
    "read_recbole": "interestlm.data.readers",
    "read_recbole_items": "interestlm.data.readers",
    "read_s3rec": "interestlm.data.readers",
    "read_table": "interestlm.data.readers",
    "read_unisrec": "interestlm.data.readers",
}


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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
