"""Training loop, evaluation loop, checkpoints and the feature cache."""
