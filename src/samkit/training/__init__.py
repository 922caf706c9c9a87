"""SAM's interactive training procedure: prompt simulation, losses, trainer, checkpoints, DDP."""

from samkit.training.config import TrainConfig, config_from_dict, load_config_file
from samkit.training.interactive import InteractiveSamStep
from samkit.training.losses import LossConfig, sam_loss
from samkit.training.prompts import PromptSimConfig, round_schedule
from samkit.training.session import run_training
from samkit.training.trainer import Hook, Trainer

__all__ = [
    "Hook", "InteractiveSamStep", "LossConfig", "PromptSimConfig", "TrainConfig", "Trainer", "config_from_dict",
    "load_config_file", "round_schedule", "run_training", "sam_loss",
]
