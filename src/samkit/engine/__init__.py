"""The data engine (SAM paper section 4): a project store, assisted-manual / semi-automatic / fully
automatic stages, retraining between rounds, and a simulated annotator to measure the loop."""

from samkit.engine.project import EngineProject, init_project, open_project
from samkit.engine.store import EngineStore, ImageRow, MaskRow, ModelRow, VersionConflict

__all__ = ["EngineProject", "EngineStore", "ImageRow", "MaskRow", "ModelRow", "VersionConflict", "init_project",
           "open_project"]
