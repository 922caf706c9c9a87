"""The `sam2` package's module paths, so a SAM 2 script moves to samkit by one textual change:
`from sam2.build_sam import build_sam2` -> `from samkit.sam2.build_sam import build_sam2` (or simply
`from samkit import build_sam2`). Re-exports only: the code lives in samkit's own packages.
"""
