"""Readers for what labs already have: video files, frame folders, .acq / CSV / NPY ECG, annotations."""
