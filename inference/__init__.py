"""Inference: signal processing, features, the CMCL-Net runtime, the spotting engine and its metrics."""
