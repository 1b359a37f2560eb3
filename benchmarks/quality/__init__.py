"""`make eval`: what the plugins write, scored by automatic checks, model by model."""
