"""CMCL-Net model code (torch, training and export only) and bundled model files (``*.onnx``).

The app never imports this package at run time: it scores windows with ``inference.runtime`` on
onnxruntime. Import the torch parts from their modules (``models.cmcl_net``, ``models.export``) so that
``import models`` stays cheap and does not need torch.
"""
