"""saikit: threat modelling and ETSI TS 104 223 governance for one AI system at a time."""

__version__ = "0.1.0"
