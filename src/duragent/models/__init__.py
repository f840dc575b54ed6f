"""Model backends that ship with Duragent.

- :mod:`duragent.models.local`: an offline local model (SmolLM2-135M-Instruct on llama.cpp) for
  examples, demos and tests that need a real model without network access or API keys.
"""
