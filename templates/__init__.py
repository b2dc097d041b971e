"""Data shipped inside the saikit package (read through importlib.resources)."""
