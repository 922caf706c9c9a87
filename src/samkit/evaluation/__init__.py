"""Evaluation as the SAM papers do it (import the submodule you need; nothing is imported here).

- interactive, click_oracle, metrics, image_protocols: clicks (mIoU vs clicks, NoC@85/90) and boxes
- grabcut: OpenCV GrabCut behind the predictor interface (predictor_protocol)
- proposal_recall, amg_protocol: AMG masks as object proposals (AR@K, recall at IoU 0.5/0.75)
- video_metrics, video_propagation: DAVIS J&F for any mask propagation method
- attacks, robustness: PGD on the encoder input, prompt-agnostic and prompt-specific
- coco_instances, davis_folders, dataset_source, eval_samples: dataset readers
- model_specs, report_tables, report_plots: what `samkit eval` compares and writes
"""
