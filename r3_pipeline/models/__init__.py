"""Models: the locally built embedded default and loading of real causal LMs (hub id or local directory)."""
