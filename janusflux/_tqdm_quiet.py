"""Imported first by ``janusflux/__init__``: ``tqdm.auto`` without its "IProgress not found" warning.

huggingface_hub imports ``tqdm.auto``, which in a Jupyter kernel without ipywidgets warns "IProgress not found. Please
update jupyter and ipywidgets" once per process. janusflux draws its own notebook progress (:mod:`janusflux.render`,
no widgets) and the libraries' bars fall back to text, so for a janusflux user the warning only misleads. This module
imports ``tqdm.auto`` with that one warning silenced; nothing else is filtered
(``pip install 'janusflux[notebook]'`` adds ipywidgets for those who want the widget bars).
"""

from __future__ import annotations

import sys
import warnings

if "ipykernel" in sys.modules and "tqdm.auto" not in sys.modules:  # only a kernel warns; elsewhere: no import cost
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import tqdm.auto  # noqa: F401
