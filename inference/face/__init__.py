"""The face: detector and face mesh (MediaPipe, on onnxruntime), the tracker that follows and aligns it, and
the layout of every geometry constant the motion features depend on."""
