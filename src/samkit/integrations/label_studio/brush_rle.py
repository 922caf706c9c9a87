"""Label Studio's brush RLE: a binary mask <-> the `rle` list of a BrushLabels result.

The format is the bit-packed run-length code of the JavaScript library @thi.ng/rle-pack, which
Label Studio's frontend decodes. It codes the mask as an RGBA image (H x W x 4 bytes, row-major):
header = 32 bits value count, 5 bits (word size - 1), 4 x 4 bits (run-length field sizes - 1);
then chunks: 1 flag bit (1 = one value repeated, 0 = literal values), 2 bits choosing a run-length
field size, (count - 1) in that many bits, then the value (repeated) or the values (literal), each
`word size` bits, MSB first. We write word size 8 and field sizes (3, 4, 8, 16), as Label Studio does.

Written here with numpy (the whole mask in a few array operations) because label-studio-sdk, which
has a pure-Python encoder, cannot be installed beside samkit's numpy/OpenCV; tests check this
module against the sdk's own decoder and encoder.
"""

from __future__ import annotations

import numpy as np

from samkit.errors import InputError

WORD_BITS = 8
RUN_FIELD_BITS = (3, 4, 8, 16)
_MAX_RUN = 1 << RUN_FIELD_BITS[-1]


def _bits(value: int, width: int) -> np.ndarray:
    return ((value >> np.arange(width - 1, -1, -1)) & 1).astype(np.uint8)


def encode_values(values: np.ndarray) -> list[int]:
    """1-D uint8 array -> Label Studio RLE bytes (as a list of ints 0..255)."""
    values = np.asarray(values, dtype=np.uint8).ravel()
    header = np.concatenate([_bits(values.size, 32), _bits(WORD_BITS - 1, 5)]
                            + [_bits(b - 1, 4) for b in RUN_FIELD_BITS])
    if values.size == 0:
        return np.packbits(header).tolist()
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    lengths = np.diff(np.r_[starts, values.size])
    run_values = values[starts].astype(np.int64)
    # a run longer than the widest field is split into full chunks plus the rest
    n_chunks = (lengths + _MAX_RUN - 1) // _MAX_RUN
    chunk_values = np.repeat(run_values, n_chunks)
    chunk_lengths = np.full(int(n_chunks.sum()), _MAX_RUN, dtype=np.int64)
    last = np.cumsum(n_chunks) - 1
    chunk_lengths[last] = lengths - (n_chunks - 1) * _MAX_RUN
    # field size class: count <= 8, <= 16, <= 256, else 16 bits; a single value is a literal of one
    size_class = np.searchsorted(np.array([1 << b for b in RUN_FIELD_BITS]), chunk_lengths)
    field_bits = np.array(RUN_FIELD_BITS, dtype=np.int64)[size_class]
    repeated = (chunk_lengths > 1).astype(np.int64)
    codes = ((repeated << (2 + field_bits + WORD_BITS)) | (size_class << (field_bits + WORD_BITS))
             | ((chunk_lengths - 1) << WORD_BITS) | chunk_values)
    code_bits = 1 + 2 + field_bits + WORD_BITS
    owner = np.repeat(np.arange(codes.size), code_bits)
    offset = np.arange(owner.size) - np.repeat(np.cumsum(code_bits) - code_bits, code_bits)
    body = ((codes[owner] >> (code_bits[owner] - 1 - offset)) & 1).astype(np.uint8)
    return np.packbits(np.concatenate([header, body])).tolist()


def mask_to_rle(mask_hw: np.ndarray) -> list[int]:
    """H x W bool mask -> the `rle` of a BrushLabels value (255 in all four RGBA bytes inside)."""
    mask_hw = np.asarray(mask_hw)
    if mask_hw.ndim != 2:
        raise InputError(f"brush mask must be H x W, got shape {mask_hw.shape}")
    rgba = np.repeat((mask_hw > 0).astype(np.uint8).ravel() * 255, 4)
    return encode_values(rgba)


def decode_values(rle: list[int] | bytes) -> np.ndarray:
    """Label Studio RLE bytes -> the 1-D uint8 values it codes."""
    try:
        data = np.asarray(list(rle) if not isinstance(rle, (bytes, bytearray)) else bytearray(rle), dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise InputError(f"brush rle must be a list of byte values: {e}") from None
    if data.size < 7 or data.min() < 0 or data.max() > 255:
        raise InputError("brush rle is not Label Studio RLE (too short or values outside 0..255)")
    bits = np.unpackbits(data.astype(np.uint8))
    pos = 0

    def read(width: int) -> int:
        nonlocal pos
        if pos + width > bits.size:
            raise InputError("brush rle ends in the middle of a chunk")
        field = bits[pos : pos + width]
        pos += width
        return int(field.dot(1 << np.arange(width - 1, -1, -1, dtype=np.int64))) if width else 0

    num = read(32)
    word = read(5) + 1
    field_sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    weights = 1 << np.arange(word - 1, -1, -1, dtype=np.int64)
    i = 0
    while i < num:
        repeated = read(1)
        count = read(field_sizes[read(2)]) + 1
        end = min(num, i + count)
        if repeated:
            out[i:end] = read(word)
        else:
            n = end - i
            if pos + n * word > bits.size:
                raise InputError("brush rle ends in the middle of a chunk")
            out[i:end] = bits[pos : pos + n * word].reshape(n, word).astype(np.int64) @ weights
            pos += n * word
        i = end
    return out


def rle_to_mask(rle: list[int] | bytes, height: int, width: int) -> np.ndarray:
    """A BrushLabels `rle` -> H x W bool mask (pixels whose alpha is at least half opaque)."""
    values = decode_values(rle)
    if values.size != height * width * 4:
        raise InputError(f"brush rle codes {values.size} values, expected {height} x {width} x 4 = "
                         f"{height * width * 4} (original_width/original_height do not match the mask)")
    return values.reshape(height, width, 4)[..., 3] >= 128
