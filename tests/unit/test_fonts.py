"""The embedded font is the file chalicelib/fonts/README.md describes (Debian's, unchanged)."""
import hashlib

from chalicelib.adapters.pdf import FONT

WQY_MICROHEI_SHA256 = "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"


def test_the_font_file_is_debians_wqy_microhei_unchanged():
    assert hashlib.sha256(FONT.read_bytes()).hexdigest() == WQY_MICROHEI_SHA256


def test_the_font_is_packaged_with_its_licence():
    assert (FONT.parent / "wqy-microhei.copyright").is_file()
