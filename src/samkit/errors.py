"""Errors that name what the user got wrong. The CLI prints them as one line and exits with 2."""


class SamkitError(Exception):
    """Base class of every error samkit raises on purpose."""


class InputError(SamkitError, ValueError):
    """Bad user input: a wrong shape, NaN, a point outside the image, a malformed flag, a bad file."""


class CheckpointError(SamkitError, ValueError):
    """A checkpoint file that is missing, truncated, of another preset or of an unknown format."""


class DownloadError(SamkitError, OSError):
    """A download that failed: no network, a bad status, a checksum mismatch."""
