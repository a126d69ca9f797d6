"""janusflux: FLUX.1 and Janus-Pro on Hugging Face Spaces through one call."""
__version__ = "0.1.0"
