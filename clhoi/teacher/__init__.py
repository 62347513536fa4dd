"""Teacher labeling: VLLM backends, prompts, parsing, negatives, the label store."""
