"""Small pure functions over numpy arrays, in the style of NeuroKit2."""
