"""A job's JSON cut into Table storage string properties (each at most 64 KiB, counted
as UTF-16, as the service counts them)."""

from __future__ import annotations

#: UTF-16 bytes per data property at most: under the 64 KiB (65,536 bytes) cap.
CHUNK_BYTES = 64_000
#: 15 x 64,000 bytes stays under the 1 MiB entity cap with the other properties; a job
#: within MAX_JOB_UTF16_BYTES always fits (a chunk loses at most 2 bytes to a pair).
MAX_CHUNKS = 15


def utf16_chunks(text: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """``text`` cut into pieces of at most ``chunk_bytes`` bytes as UTF-16, never between
    the two halves of a surrogate pair (a character outside the BMP, e.g. an emoji)."""
    if text.isascii() or max(text) < "\U00010000":  # one UTF-16 unit per character
        step = chunk_bytes // 2
        return [text[i : i + step] for i in range(0, len(text), step)]
    data = text.encode("utf-16-le", "surrogatepass")
    chunks: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + chunk_bytes - chunk_bytes % 2, len(data))
        if end < len(data) and 0xD800 <= int.from_bytes(data[end - 2 : end], "little") < 0xDC00:
            end -= 2  # the last unit is a pair's high half: keep the pair together
        chunks.append(data[start:end].decode("utf-16-le", "surrogatepass"))
        start = end
    return chunks
