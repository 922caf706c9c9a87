"""SAM 2 (and SAM 2.1): the Hiera image encoder with its FPN neck, the SAM 2 mask decoder (high-res
skip features, object-score token), the memory encoder and memory attention used for video, and the
SAM2Base module that holds them under the official module names, so official checkpoints load
unchanged. The prompt encoder and the two-way transformer are SAM 1's (samkit.modeling), shared.
"""
