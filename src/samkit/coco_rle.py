"""Checks of COCO run-length encodings before pycocotools decodes them.

pycocotools' decoder writes runs without bounds checks and trusts `size`: a counts string whose runs
do not add up to H x W, a negative run, or a non-integer size gives garbage or a crash in C. Every
reader of user RLE (datasets, `samkit eval`, the annotator's server) checks with `rle_problem` first.
Compressed counts are pycocotools' rleToString format: LEB128-like 5-bit groups offset by 48, and
runs after the second stored as the difference to the run two before.
"""

from __future__ import annotations

from samkit.errors import InputError

MAX_SIDE_PX = 1 << 20  # a mask side beyond this is a corrupt size, not an image


def compressed_rle_runs(counts: str | bytes) -> list[int]:
    """The run lengths of a compressed COCO RLE counts string; InputError if it is malformed."""
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            raise InputError("RLE counts string is not ASCII") from None
    runs: list[int] = []
    i, n = 0, len(counts)
    while i < n:
        x, shift, more = 0, 0, True
        while more:
            if i >= n:
                raise InputError("RLE counts string ends in the middle of a number")
            c = ord(counts[i]) - 48
            if not 0 <= c < 64:
                raise InputError(f"RLE counts string has an invalid character {counts[i]!r}")
            x |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            i += 1
            shift += 1
            if shift > 13:  # more than 64 bits: no real run is this long
                raise InputError("RLE counts string has a number too long to be a run length")
            if not more and c & 0x10:
                x |= -1 << (5 * shift)
        if len(runs) > 2:  # runs after the second are stored as differences to the run two back
            x += runs[-2]
        if x < 0:
            raise InputError("RLE counts string has a negative run length")
        runs.append(x)
    return runs


def rle_problem(rle: object, hw: tuple[int, int] | None = None) -> str | None:
    """None when `rle` ({"size": [H, W], "counts": str | bytes | list[int]}) can be decoded safely
    (and, with hw, has that size); otherwise what is wrong with it."""
    if not isinstance(rle, dict):
        return f"RLE must be a dict with size and counts, got {type(rle).__name__}"
    size = rle.get("size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        return "RLE without a [height, width] size of two integers"
    h, w = int(size[0]), int(size[1])
    if not (0 <= h <= MAX_SIDE_PX and 0 <= w <= MAX_SIDE_PX):
        return f"RLE size {[h, w]} is not a mask size"
    if hw is not None and (h, w) != tuple(hw):
        return f"RLE size {[h, w]} differs from the image's {list(hw)}"
    counts = rle.get("counts")
    if isinstance(counts, list):
        if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
            return "uncompressed RLE counts must be non-negative integers"
        total = sum(counts)
    elif isinstance(counts, (str, bytes)):
        try:
            total = sum(compressed_rle_runs(counts))
        except InputError as e:
            return str(e)
    else:
        return "RLE counts must be a list of run lengths or a compressed string"
    if total != h * w:
        return f"RLE runs cover {total} pixels, expected H*W = {h * w}"
    return None
