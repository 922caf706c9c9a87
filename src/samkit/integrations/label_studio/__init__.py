"""Label Studio ML backend: samkit's models answer Label Studio's smart tools and pre-annotate tasks.

`samkit label-studio` serves Label Studio's ML backend protocol (/health, /setup, /predict, /webhook;
see app.py). Files, one concept each: protocol.py (request/response shapes), labeling_config.py
(which controls a project has), brush_rle.py (Label Studio's brush RLE), polygons.py (mask <->
polygon), image_fetch.py (task files from Label Studio), segmenter.py (predictor + embedding
cache + automatic masks), video_tracking.py (SAM 2 video boxes), regions.py (masks -> result
regions), backend.py (what each protocol call does), dataset_writer.py (submitted annotations -> a COCO dataset `samkit finetune` reads),
app.py (the HTTP server).
"""
