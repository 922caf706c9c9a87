"""Which tools a Label Studio project has: the image, the prompts samkit reads, the output it writes.

A labeling config is XML (https://labelstud.io/tags/). samkit reads:
- the <Image> tag (its `name`, and `value="$field"`: the task data field with the image URL);
- prompt controls on that image: <KeyPointLabels> (clicks; `is_positive` false = a negative click)
  and <RectangleLabels> (a box), usually with smart="true" so Label Studio sends them while drawing;
- the output control for that image: <BrushLabels> (a mask as brush RLE) or <PolygonLabels> (the
  mask's outlines). With both, brush masks are returned (they keep holes and fine detail).
A config without an <Image> or without an output control is an InputError naming what is missing.
Video tasks (SAM 2): a <Video value="$field"> with a <VideoRectangle> on it (VideoConfig).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from samkit.errors import InputError

PROMPT_TAGS = ("KeyPointLabels", "RectangleLabels")
OUTPUT_TAGS = ("BrushLabels", "PolygonLabels")  # in order of preference


@dataclass(frozen=True)
class Control:
    tag: str  # e.g. "BrushLabels"
    name: str  # from_name in results
    to_name: str
    labels: tuple[str, ...]

    @property
    def result_type(self) -> str:
        """The `type` of this control's result regions ("brushlabels", "polygonlabels", ...)."""
        return self.tag.lower()


@dataclass(frozen=True)
class LabelingConfig:
    image_name: str  # to_name of the regions
    image_field: str  # task["data"][image_field] is the image URL
    output: Control
    prompts: tuple[Control, ...]

    def output_label(self, chosen: str | None) -> str:
        """The label for a mask: the one the user chose on the prompt tool, else the output's first."""
        if chosen is None:
            if not self.output.labels:
                raise InputError(f"<{self.output.tag} name=\"{self.output.name}\"> has no <Label>: add one")
            return self.output.labels[0]
        if self.output.labels and chosen not in self.output.labels:
            raise InputError(f"label \"{chosen}\" is not a <Label> of <{self.output.tag} "
                             f"name=\"{self.output.name}\"> (it has {', '.join(self.output.labels)}): "
                             f"give the prompt tool and the {self.output.tag} the same labels")
        return chosen


def parse_labeling_config(xml: str) -> LabelingConfig:
    """Label Studio's labeling config XML -> the controls samkit uses, or an InputError."""
    if not isinstance(xml, str) or not xml.strip():
        raise InputError("the project has no labeling config")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise InputError(f"the labeling config is not valid XML: {e}") from None
    images = [el for el in root.iter() if el.tag == "Image"]
    if not images:
        raise InputError("the labeling config has no <Image> tag: samkit's backend segments images, and "
                         "tracks boxes in a <Video> with a <VideoRectangle>")
    by_name = {el.get("name"): el for el in images}
    controls = [_control(el) for el in root.iter() if el.tag in PROMPT_TAGS + OUTPUT_TAGS]
    for tag in OUTPUT_TAGS:
        for control in controls:
            if control.tag == tag and control.to_name in by_name:
                image = by_name[control.to_name]
                value = image.get("value", "")
                if not value.startswith("$") or len(value) < 2:
                    raise InputError(f"<Image name=\"{control.to_name}\"> needs value=\"$field\" naming the "
                                     f"task field with the image URL, got value=\"{value}\"")
                prompts = tuple(c for c in controls if c.tag in PROMPT_TAGS and c.to_name == control.to_name)
                return LabelingConfig(control.to_name, value[1:], control, prompts)
    raise InputError("the labeling config has no <BrushLabels> or <PolygonLabels> on an <Image>: samkit returns "
                     "masks as brush or polygon regions, so add one (with the same <Label>s as your smart "
                     "<KeyPointLabels>/<RectangleLabels>); see docs/label-studio.md for a config that works")


def _control(el: ET.Element) -> Control:
    name, to_name = el.get("name"), el.get("toName")
    if not name or not to_name:
        raise InputError(f"<{el.tag}> in the labeling config needs name and toName attributes")
    labels = tuple(lab.get("value") for lab in el.iter("Label") if lab.get("value"))
    return Control(el.tag, name, to_name.split(",")[0], labels)


@dataclass(frozen=True)
class VideoConfig:
    video_name: str  # to_name of the regions
    video_field: str  # task["data"][video_field] is the video URL
    box_name: str  # the VideoRectangle's name (from_name)


def parse_video_config(xml: str) -> VideoConfig | None:
    """A <Video> with a <VideoRectangle> on it, or None when the config has no such pair."""
    try:
        root = ET.fromstring(xml)
    except (ET.ParseError, TypeError):
        return None
    videos = {el.get("name"): el for el in root.iter() if el.tag == "Video"}
    for el in root.iter("VideoRectangle"):
        video = videos.get((el.get("toName") or "").split(",")[0])
        value = video.get("value", "") if video is not None else ""
        if el.get("name") and value.startswith("$") and len(value) > 1:
            return VideoConfig(video.get("name"), value[1:], el.get("name"))
    return None


def parse_project_config(xml: str) -> LabelingConfig | VideoConfig:
    """The image config samkit segments with, else a video config it tracks with, else the image error."""
    try:
        return parse_labeling_config(xml)
    except InputError:
        video = parse_video_config(xml) if isinstance(xml, str) else None
        if video is not None:
            return video
        raise
