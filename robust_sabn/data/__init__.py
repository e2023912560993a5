"""Datasets as in-memory uint8 tensors: registry, offline loading, splits and batches.

Names: ``fashion-mnist`` (the CPU default), ``cifar10``, ``cifar100``, ``svhn`` and ``npz`` (a
user's own arrays; see :mod:`robust_sabn.data.sources` for the keys).
"""

from robust_sabn.data.batches import iterate_batches, random_crop_flip
from robust_sabn.data.idx import read_idx
from robust_sabn.data.registry import DatasetInfo, default_data_dir, list_datasets
from robust_sabn.data.sources import NPZ_KEYS
from robust_sabn.data.splits import SPLITS, ImageTensors, get_dataset_info, load_split

__all__ = [
    "NPZ_KEYS",
    "SPLITS",
    "DatasetInfo",
    "ImageTensors",
    "default_data_dir",
    "get_dataset_info",
    "iterate_batches",
    "list_datasets",
    "load_split",
    "random_crop_flip",
    "read_idx",
]
