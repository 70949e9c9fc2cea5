"""Which files from a phone a browser may show: decided by their first bytes, never their name.

A phone chooses both a file's name and its declared type, so neither says what the bytes are.
A file is shown inline only when its first bytes carry the signature of one of the image, audio
or video formats below: formats phones produce and browsers display, none of which can run a
script. Everything else (HTML, SVG, XML, JavaScript, PDF, AMR, unknown bytes) is a
download. A polyglot (JPEG bytes followed by HTML) is still sent as `image/jpeg`, with
`nosniff` and a sandbox policy on the response (server/web/views/submissions.py), so the
browser can only try to decode it as an image; it never becomes a page.

A signature table rather than a library, on purpose: the only question is "one of these nine
formats or not", and a table is read in a minute. When this was written, `filetype` 1.2.0
looked for `ftyp3gp` at offset 0, where ISO base media files put the box size, so real 3GP
files were missed; `puremagic` answered with weighted guesses (M4A as video, AMR without a
type); `python-magic` needs the system's libmagic. A format missing here is only downloaded.
"""

from __future__ import annotations

# (first bytes, media type) for formats recognised by a fixed start.
_STARTS = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"ID3", "audio/mpeg"),  # MP3 with an ID3v2 tag
    (b"OggS", "audio/ogg"),  # Ogg Vorbis / Opus recordings
)
# ISO base media files ("....ftypBRND"): the major brand says which kind.
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B "})
_VIDEO_BRANDS = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"mp41", b"mp42", b"avc1"})
_3GPP_PREFIXES = (b"3gp", b"3g2")

INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "video/mp4",
        "video/3gpp",
    }
)


def _iso_media_type(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _AUDIO_BRANDS:
        return "audio/mp4"
    if brand.startswith(_3GPP_PREFIXES):
        return "video/3gpp"
    if brand in _VIDEO_BRANDS:
        return "video/mp4"
    return None  # QuickTime, HEIF and the rest: downloaded


def inline_type(content: bytes) -> str | None:
    """The media type to show `content` as, or None when it must be downloaded."""
    head = content[:16]
    for start, media_type in _STARTS:
        if head.startswith(start):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # An MP3 without a tag starts with an MPEG audio layer III frame header: 11 sync bits,
    # any version, layer bits 01.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2:
        return "audio/mpeg"
    return _iso_media_type(head)
