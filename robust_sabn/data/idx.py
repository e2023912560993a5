"""A small reader for the IDX format of (Fashion-)MNIST, gzipped or not.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32
sizes, then the values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from robust_sabn.errors import UserInputError

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain, told apart by content) into a numpy array.

    Returns:
        An array with the file's shape and dtype (uint8 for image and label files), in native
        byte order.

    Raises:
        UserInputError: the file is not an IDX file (bad magic number, unknown value type) or its
            size does not match the sizes in its header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise UserInputError(
            f"{path} is not an IDX file (magic number {raw[:4].hex() or 'missing'}); "
            "use the original (Fashion-)MNIST files"
        )
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise UserInputError(f"{path} is truncated inside its IDX header; download it again")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise UserInputError(
            f"{path} holds {len(raw) - header_end} bytes of values but its IDX header {shape} "
            f"needs {expected}; download it again"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return values.astype(dtype.newbyteorder("="))
