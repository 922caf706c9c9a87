"""SAM 2 video: SAM2VideoPredictor (the drop-in for sam2.sam2_video_predictor), its builder, and
the frame sources that read JPEG/PNG folders and video files (PyAV) as tracking reaches each frame.

Import from the modules (samkit.video.video_predictor, samkit.video.build_video,
samkit.video.frame_source); this package imports nothing when imported.
"""
