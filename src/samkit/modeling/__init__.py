"""nn.Modules of the Segment Anything model (no file or network IO here)."""
