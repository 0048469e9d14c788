"""Training: image folders -> random crops -> rate + distortion loss -> resumable checkpoints."""
