"""Many AI systems, one view: run each system of a portfolio (kit.portfolio.run) on a local pool or
a Dask cluster (kit.portfolio.engine), count each one's risk and compliance (kit.portfolio.summary)
and show them side by side (kit.portfolio.views, the portfolio notebook)."""
