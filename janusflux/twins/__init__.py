"""Local twins of the FLUX.1 and Janus-Pro Spaces and of the Hub, for offline use and tests.

Needs the `twins` extra (gradio). The janusflux core never imports this package, and this package never imports the
core: fidelity comes from the facts in SPACES.md, not from the SDK's registry. Importing it is cheap; gradio is
imported when a fleet starts.

    from janusflux.twins import start_twins
    with start_twins(port=0, delay=0.0) as fleet:
        os.environ["HF_ENDPOINT"] = fleet.hub_url   # before huggingface_hub / gradio_client are imported
        ...
"""

from .fleet import PortInUseError, TwinFleet, start_twins
from .options import TwinOptions
from .state import FAMILIES, SPACE_IDS, RecordedRequest

__all__ = ["FAMILIES", "SPACE_IDS", "PortInUseError", "RecordedRequest", "TwinFleet", "TwinOptions", "start_twins"]
