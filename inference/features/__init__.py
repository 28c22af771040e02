"""Features for CMCL-Net: per-frame facial motion, per-window ECG, and the spec that ties them to a model."""
