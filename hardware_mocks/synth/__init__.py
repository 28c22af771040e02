"""Synthetic sessions: a real face photograph animated with MEs, and ECG that answers them."""
