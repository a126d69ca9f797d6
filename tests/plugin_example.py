# thumbnails.py: your code
import janusflux


def thumbnail(prompt: str) -> bytes:
    return janusflux.generate("flux-schnell", prompt, width=256, height=256, seed=7).data


# test_thumbnails.py: the first run records against the local twins, later runs replay offline
import io

from PIL import Image
from thumbnails import thumbnail


def test_thumbnail(janusflux_cassette):  # the fixture of janusflux's pytest plugin (needs janusflux[test])
    assert Image.open(io.BytesIO(thumbnail("a red fox"))).size == (256, 256)
