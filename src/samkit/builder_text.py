"""Text-prompt path: config -> modules, and how it rides on a SAM model and its checkpoint.

`model.text_encoder` (a samkit.modeling.text_encoder.TextPromptEncoder) is optional: official SAM
checkpoints and samkit checkpoints without it load unchanged (their keys are untouched); a samkit
checkpoint with it stores the text tower's weights under `text_encoder.` and its TextPromptConfig
in the metadata (samkit.config_text.TEXT_PROMPT_KEY). open_clip is imported only for kind
"open_clip" (the `samkit[clip]` extra; open_clip itself imports torchvision).
"""

from __future__ import annotations

from samkit.config_text import TEXT_PROMPT_KEY, TextPromptConfig
from samkit.errors import CheckpointError, InputError
from samkit.modeling.text_encoder import TextPromptEncoder, build_word_text_encoder


def _import_open_clip():
    try:
        import open_clip
    except ImportError as e:
        raise CheckpointError(f"this text path needs open_clip ({e}); install samkit[clip] "
                              f"(open_clip_torch, which needs torchvision)") from None
    return open_clip


def open_clip_text_encoder(name: str, prompt_dim: int, pretrained: str | None = None) -> TextPromptEncoder:
    """An open_clip model (`open_clip.create_model(name, pretrained=pretrained)`: a tag or a local
    checkpoint file, loaded unchanged) as the text tower, its tokenizer, and a fresh projection to
    prompt_dim. The whole CLIP model is kept, so `tower.encode_image` serves the training recipe."""
    open_clip = _import_open_clip()
    from samkit.modeling.text_open_clip import OpenClipTokenizer, OpenClipTower

    clip = open_clip.create_model(name, pretrained=pretrained, device="cpu").eval()
    size = clip.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    pre = getattr(clip.visual, "preprocess_cfg", {}) or {}
    kwargs = {k: tuple(pre[k]) for k in ("mean", "std") if k in pre}
    tower = OpenClipTower(clip, size, **kwargs)
    embed_dim = clip.text_projection.shape[-1] if hasattr(clip, "text_projection") and \
        clip.text_projection is not None else clip.encode_text(open_clip.get_tokenizer(name)(["a"])).shape[-1]
    config = TextPromptConfig(kind="open_clip", prompt_dim=prompt_dim, open_clip_name=name,
                              clip_embed_dim=int(embed_dim))
    return TextPromptEncoder(tower, OpenClipTokenizer(open_clip.get_tokenizer(name)), int(embed_dim), prompt_dim, config)


def build_text_encoder(config: TextPromptConfig) -> TextPromptEncoder:
    """Random-weight text path of either kind (the checkpoint's weights are loaded over it)."""
    if config.kind == "open_clip":
        enc = open_clip_text_encoder(config.open_clip_name, config.prompt_dim, pretrained=None)
        enc.config = config  # keep the stored provenance
        return enc
    return build_word_text_encoder(config)


def add_text_encoder(model, text_encoder: TextPromptEncoder):
    """Attach a text path to a SAM 1 model (its projection must output the prompt encoder's dim)."""
    want = model.prompt_encoder.embed_dim
    if text_encoder.proj.out_features != want:
        raise InputError(f"text path projects to {text_encoder.proj.out_features}, the model's prompts are {want}-d")
    model.text_encoder = text_encoder
    return model


def text_metadata(model) -> dict[str, str]:
    """Metadata entries save_checkpoint writes for a model with a text path (none without)."""
    enc = getattr(model, "text_encoder", None)
    return {} if enc is None else {TEXT_PROMPT_KEY: enc.config.to_json()}


def attach_from_metadata(model, meta: dict[str, str], source: str) -> None:
    """Before the strict load: give `model` the text path a checkpoint's metadata describes."""
    if TEXT_PROMPT_KEY not in meta:
        return
    try:
        config = TextPromptConfig.from_json(meta[TEXT_PROMPT_KEY])
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{source}: invalid {TEXT_PROMPT_KEY} metadata ({e})") from None
    add_text_encoder(model, build_text_encoder(config))


def require_text_encoder(model) -> TextPromptEncoder:
    """The model's text path, or an InputError saying which models have one."""
    enc = getattr(model, "text_encoder", None)
    if enc is None:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        raise InputError(f"this model ({name}) has no text prompt path; use samkit's built-in model (no "
                         f"--checkpoint), a samkit checkpoint trained with one (docs/text-prompts.md), or "
                         f"prompt with points/boxes")
    return enc
