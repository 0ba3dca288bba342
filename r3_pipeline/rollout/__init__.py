"""Rollouts: the attempt -> reflect -> retry episode, batched, over a generation engine."""
