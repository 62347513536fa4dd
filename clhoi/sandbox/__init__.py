"""The offline synthetic world: scenes, a simulated teacher and detector, a small CLIP."""
