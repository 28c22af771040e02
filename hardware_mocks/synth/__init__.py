"""Synthetic sessions: a real face photograph, reshaped, posed and lit anew per session and animated with
expressions that follow the muscles and MECG's timing, and ECG whose heart answers them as hearts do.

Nothing here reads ``inference``: the synthetic subject is not built from what the measurer measures.
Modules: ``face`` (photos and their landmarks), ``landmarks`` (the 68-point scheme), ``shape`` (face-shape
warp), ``actions`` (AU and blink motion fields), ``pose`` (head pose and depth), ``variation`` (what varies
between sessions), ``render`` (frames), ``timeline`` (events), ``ecg`` (heart), ``session`` (writing it all).
"""
