"""Configuration of MAE pre-training (`samkit pretrain`): the SAM training sections it shares
(model, data, optim, run) plus `mae`. Same file formats, flags and validation as TrainConfig."""

from __future__ import annotations

from dataclasses import dataclass, field

from samkit.errors import InputError
from samkit.training.config import DataSection, ModelSection, OptimSection, RunSection
from samkit.training.mae import MaeSection


def _mae_optim() -> OptimSection:
    # MAE's recipe: AdamW betas (0.9, 0.95), weight decay 0.05, warmup then cosine.
    return OptimSection(lr=1e-3, weight_decay=0.05, betas=(0.9, 0.95), warmup_steps=100)


@dataclass(frozen=True)
class PretrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=_mae_optim)
    run: RunSection = field(default_factory=lambda: RunSection(run_dir="runs/pretrain", batch_size=16))
    mae: MaeSection = field(default_factory=MaeSection)

    def validate(self) -> "PretrainConfig":
        r, o = self.run, self.optim
        if r.mode != "full":
            raise InputError("run.mode must be 'full' for MAE pre-training (the encoder is what it trains)")
        if r.precision not in ("fp32", "bf16"):
            raise InputError(f"run.precision {r.precision!r} must be fp32 or bf16")
        if o.schedule not in ("cosine", "step", "constant"):
            raise InputError(f"optim.schedule {o.schedule!r} must be cosine, step or constant")
        for name, v in (("run.max_steps", r.max_steps), ("run.batch_size", r.batch_size),
                        ("optim.grad_accum", o.grad_accum), ("mae.decoder_depth", self.mae.decoder_depth),
                        ("mae.decoder_dim", self.mae.decoder_dim)):
            if v < 1:
                raise InputError(f"{name} must be >= 1, got {v}")
        if not 0.0 < self.mae.mask_ratio < 1.0:
            raise InputError(f"mae.mask_ratio must be in (0, 1), got {self.mae.mask_ratio}")
        if self.mae.decoder_dim % self.mae.decoder_heads or self.mae.decoder_dim % 4:
            raise InputError(f"mae.decoder_dim {self.mae.decoder_dim} must be divisible by 4 and by "
                             f"mae.decoder_heads {self.mae.decoder_heads}")
        if not self.data.train:
            raise InputError("no pre-training images: add [[data.train]] entries to the config or pass --data PATH")
        return self
