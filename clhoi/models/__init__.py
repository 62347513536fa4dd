"""The CL-HOI student: encoders, Visual Linguistic Translator, Interaction Cognition Network."""
