"""model-rollout: eval-gated blue-green rollout of LLM model versions, native to GitHub Actions."""

__version__ = "0.1.0"
