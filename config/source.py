"""Read a config or secret file: a regular file, of bounded size, in UTF-8.

A path to ``/dev/zero``, a FIFO or a directory is refused before it is opened for reading
(``O_NONBLOCK`` keeps even a FIFO swapped in after the check from hanging the open), and
no more than the limit is ever read, so a wrong path costs an error, not memory or a hang.
"""

from __future__ import annotations

import os
import stat

CONFIG_LIMIT = 1024 * 1024
SECRET_LIMIT = 64 * 1024


class Unreadable(Exception):
    """Why a file cannot be used, in a few words (never its content)."""


def read_text(path: str | os.PathLike[str], limit: int, private: bool = False) -> str:
    """``private``: a secret's file, refused if anyone may write it (checked on the file
    itself, after any symlink): whoever can write a token file chooses the token."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"not a regular file ({_kind(info.st_mode)})")
        if private and info.st_mode & stat.S_IWOTH:
            raise Unreadable(f"anyone may write it (mode {stat.S_IMODE(info.st_mode):04o}; "
                             "chmod o-w)")
        if info.st_size > limit:
            raise Unreadable(f"{info.st_size} bytes; at most {limit} are read")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Unreadable(f"more than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Unreadable(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") \
            from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"
