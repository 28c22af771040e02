"""Acquisition: devices, ring buffer, synchronization, recorder and the session format.

Time everywhere is the trigger-aligned ECG sample index (the MP160's 1 kHz clock, counted from the
start of acquisition); frames are stamped with the sample index of their trigger edge.
"""
