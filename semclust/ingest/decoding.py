"""From bytes to text: opening regular files only, size-bounded reads, streaming (gzipped)
record files line by line, charset detection, and the checks for binary or implausible text.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import gzip
import io
import os
import re
import stat
import unicodedata
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from semclust.errors import BinaryFileError, DecodeError, EmptyInputError, InputError, RecordError
from semclust.ingest.limits import MAX_FILE_BYTES

__all__ = [
    "bounded_lines",
    "decode_text",
    "implausible_text",
    "looks_binary",
    "not_regular",
    "open_record_stream",
    "open_regular",
    "read_bytes",
]

# Bytes looked at to choose the encoding of a streamed file.
_SNIFF_BYTES = 1 << 20
_STREAM_ERRORS = (OSError, EOFError, zlib.error)


def not_regular(mode: int) -> str | None:
    """What a file of ``st_mode`` is when it is not a regular file (``"a FIFO"``...), else None."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; a FIFO, socket or device is an
    :class:`InputError` at once (it is opened without blocking, then checked).
    """
    try:
        kind = not_regular(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            kind = not_regular(os.fstat(fd).st_mode)  # the file may have changed since
            if kind is not None:
                os.close(fd)
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", path=path) from None
    if kind is not None:
        raise InputError(f"not a regular file ({kind}); only regular files are read", path=path)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, allow_empty: bool = False, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a one-article file, at most ``limit`` of them (``MAX_FILE_BYTES``); an
    empty file is an :class:`EmptyInputError`, a larger one an :class:`InputError`.
    """
    with open_regular(path) as f:
        try:
            data = f.read(limit + 1)
        except OSError as err:
            raise InputError(f"cannot read file ({err.strerror})", path=path) from None
    if len(data) > limit:
        raise InputError(
            f"the file is over {limit:,} bytes, the limit for a one-article file "
            "(semclust.ingest.limits.MAX_FILE_BYTES); split it or convert it to JSONL",
            path=path,
        )
    if not data.strip() and not allow_empty:
        raise EmptyInputError("the file is empty", path=path)
    return data


def looks_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look binary: a NUL byte, or over 10% control bytes."""
    if not head:
        return False
    bad = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return b"\x00" in head or bad / len(head) > 0.1


def implausible_text(text: str) -> str | None:
    """Why ``text`` (decoded from a guessed legacy encoding) is not plausibly text, or None.

    Random or repeated bytes decode into *something* in most code pages (box-drawing
    characters, CJK soup); real text in any language has white space or line breaks now and
    then, no character making up most of it, and few symbols or control characters.
    """
    sample = text[:100_000]
    body = [c for c in sample if not c.isspace()]
    if len(body) >= 100:
        char, count = collections.Counter(body).most_common(1)[0]
        if count > len(body) / 2:
            return f"{count / len(body):.0%} of it is the one character {char!r}"
        odd = sum(1 for c in body if unicodedata.category(c)[0] in "SC")
        if odd > len(body) * 0.3:
            return f"{odd / len(body):.0%} of it is symbols or control characters"
    run = re.search(r"[^ \t\r\n]{2000,}", sample)
    if run:
        return f"it has {len(run.group(0)):,}+ characters without a space or line break"
    return None


def _detect(data: bytes, path: str | Path | None) -> tuple[str, str]:
    """The encoding charset-normalizer detects and the decoded text, checked for plausibility."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise DecodeError("could not determine the text encoding; convert the file to UTF-8", path=path)
    best = matches[0]
    # On short texts the detector often hesitates between code pages; Windows-1252, by far
    # the most common legacy encoding of news text, wins when it is nearly as plausible.
    for m in matches:
        if m.encoding == "cp1252" and m.chaos <= best.chaos + 0.1:
            best = m
            break
    text = str(best)
    why = implausible_text(text)
    if why is not None:
        raise DecodeError(
            f"not UTF-8, and as {best.encoding} (the likeliest guess) it is not plausible text: {why}; "
            "is it a text file? If so, convert it to UTF-8",
            path=path,
        )
    return best.encoding, text


def decode_text(data: bytes, path: str | Path | None = None) -> str:
    """Decode file bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else the
    encoding ``charset-normalizer`` detects. Binary data raises :class:`BinaryFileError`;
    bytes that decode only into implausible text (see :func:`implausible_text`) raise
    :class:`DecodeError`.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DecodeError("invalid UTF-16 text", path=path) from None
    if looks_binary(data[:8192]):
        raise BinaryFileError("this looks like a binary file, not text", path=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    return _detect(data, path)[1]


def _sniff_encoding(head: bytes, complete: bool, path: Path) -> str:
    """The encoding of a streamed file, chosen from its first bytes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if looks_binary(head[:8192]):
        raise BinaryFileError("this looks like a binary file, not text", path=path)
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        if not complete and err.start >= len(head) - 3:  # cut inside the last character
            return "utf-8"
    return _detect(head, path)[0]


@contextlib.contextmanager
def open_record_stream(path: Path) -> Iterator[tuple[IO[bytes], str]]:
    """Open a record file (gunzipped for ``.gz``) as a byte stream and its encoding, never
    reading it whole. The encoding is chosen from the first MiB (UTF-8 or UTF-16 with BOM,
    else detected). An empty file is an :class:`EmptyInputError`; a binary one a
    :class:`BinaryFileError`.
    """
    with open_regular(path) as raw:
        stream: IO[bytes] = raw
        if path.name.lower().endswith(".gz"):
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        try:
            head = stream.read(_SNIFF_BYTES)
            complete = len(head) < _SNIFF_BYTES
            if not head.strip() and complete:
                raise EmptyInputError("the file is empty", path=path)
            encoding = _sniff_encoding(head, complete, path)
            stream.seek(0)
        except _STREAM_ERRORS as err:
            raise RecordError(f"not a valid gzip file ({err})", path=path) from None
        with stream:
            yield stream, encoding


def _decode_error(err: UnicodeDecodeError, path: Path, line: int) -> DecodeError:
    return DecodeError(
        f"not valid {codecs.lookup(err.encoding).name} text ({err.reason}); the file's first MiB "
        "was, so the file was read as that: convert the whole file to UTF-8",
        path=path,
        line=line,
    )


def bounded_lines(
    stream: IO[bytes], encoding: str, path: Path, limit: int
) -> Iterator[tuple[int, str | None]]:
    """``(line number, line)`` for each line of a record stream, its ending kept; ``None`` for
    a line over ``limit`` bytes (read past in pieces if the caller goes on, so memory stays
    bounded). Decoding and gzip errors are :class:`InputError` naming the line.
    """
    if encoding.replace("_", "-").lower().startswith("utf-16"):  # "\n" bytes occur inside characters
        yield from _utf16_lines(stream, path, limit)
        return
    lineno = 0
    while True:
        try:
            data = stream.readline(limit + 1)
            if len(data) > limit and not data.endswith(b"\n"):
                lineno += 1
                yield lineno, None  # the caller may stop here; if not, read past the rest
                while data and not data.endswith(b"\n"):
                    data = stream.readline(limit)
                continue
            if not data:
                return
            lineno += 1
            line = data.decode(encoding if lineno > 1 or encoding != "utf-8" else "utf-8-sig")
        except UnicodeDecodeError as err:
            raise _decode_error(err, path, lineno) from None
        except _STREAM_ERRORS as err:
            raise RecordError(f"damaged gzip data ({err})", path=path, line=lineno + 1) from None
        yield lineno, line


def _utf16_lines(stream: IO[bytes], path: Path, limit: int) -> Iterator[tuple[int, str | None]]:
    text = io.TextIOWrapper(stream, encoding="utf-16", newline="")
    lineno = 0
    try:
        while True:
            line = text.readline(limit // 2 + 1)
            lineno += 1
            if len(line) > limit // 2 and not line.endswith(("\n", "\r")):
                yield lineno, None
                while line and not line.endswith(("\n", "\r")):
                    line = text.readline(limit // 2)
                continue
            if not line:
                return
            yield lineno, line
    except UnicodeDecodeError as err:
        raise _decode_error(err, path, lineno) from None
    finally:
        text.detach()
