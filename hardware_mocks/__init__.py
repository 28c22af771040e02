"""Mock devices that speak the real protocols, and the synthetic subject that feeds them."""
