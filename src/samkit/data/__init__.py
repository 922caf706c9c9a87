"""Training data: datasets of images with instance masks, mixing, augmentation and batching."""

from samkit.data.base import RecordDataset
from samkit.data.coco import CocoInstances
from samkit.data.davis import DavisFrames
from samkit.data.label_maps import LabelMapFolder, ObjectMaskFolder
from samkit.data.loading import ExampleDataset, StreamBatchSampler, TrainBatch, collate_examples
from samkit.data.mixture import WeightedMixture
from samkit.data.panoptic import CocoPanoptic
from samkit.data.records import DataIssue, InstanceSample
from samkit.data.sa1b import SA1BFolder
from samkit.data.specs import DatasetSpec, build_dataset
from samkit.data.splits import held_out
from samkit.data.transforms import AugmentConfig, prepare_example

__all__ = [
    "AugmentConfig", "CocoInstances", "CocoPanoptic", "DataIssue", "DatasetSpec", "DavisFrames", "ExampleDataset",
    "InstanceSample", "LabelMapFolder", "ObjectMaskFolder", "RecordDataset", "SA1BFolder",
    "StreamBatchSampler", "TrainBatch", "WeightedMixture", "build_dataset", "collate_examples",
    "held_out", "prepare_example",
]
