"""Download a file from a list of mirrors, verify its MD5, and move it into place atomically."""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Iterable, Optional

from .idx import DownloadError, PathLike

__all__ = ["md5sum", "check_md5", "download_file", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_USER_AGENT = "tensorcore-data/0.1 (+https://github.com/)"


def md5sum(path: PathLike, chunk_size: int = _CHUNK) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: PathLike, md5: Optional[str]) -> bool:
    """True when ``path`` is a file whose MD5 is ``md5`` (any existing file when ``md5`` is None)."""
    path = Path(path)
    if not path.is_file():
        return False
    return md5 is None or md5sum(path) == md5.lower()


def _progress_bar(total: Optional[int], desc: str, progress: Optional[bool]):
    """A tqdm bar when asked for (or, with ``progress=None``, when stderr is a terminal), else None."""
    if progress is False or (progress is None and not (hasattr(sys.stderr, "isatty")
                                                        and sys.stderr.isatty())):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _fetch(url: str, out: IO[bytes], timeout: float, desc: str, progress: Optional[bool]) -> str:
    """Stream ``url`` into ``out``; return the MD5 of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        bar = _progress_bar(int(length) if length and length.isdigit() else None, desc, progress)
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return digest.hexdigest()


def download_file(filename: str, mirrors: Iterable[str], folder: PathLike, md5: Optional[str] = None,
                  *, timeout: float = DEFAULT_TIMEOUT, progress: Optional[bool] = None) -> Path:
    """Download ``filename`` into ``folder`` from the first mirror that serves it with the right MD5.

    Each mirror is a base URL; the file's URL is ``mirror + "/" + filename``. A file already in
    ``folder`` with the right MD5 is not downloaded again. Each attempt streams into a temporary
    file in ``folder``, checks the MD5 and only then renames it to its final name (atomic on one
    file system), so an interrupted download never leaves a partial file under the real name.
    An HTTP error, a network error or an MD5 mismatch moves on to the next mirror; when every mirror
    fails, :class:`DownloadError` lists each URL with what went wrong.

    ``progress``: True shows a tqdm bar, False never, None (default) only when stderr is a terminal.
    Returns the path of the verified file.
    """
    folder = Path(folder)
    target = folder / filename
    if check_md5(target, md5):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    mirrors = list(mirrors)
    if not mirrors:
        raise DownloadError(f"cannot download {filename}: no mirrors given")
    failures: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                got = _fetch(url, out, timeout, filename, progress)
            if md5 is not None and got != md5.lower():
                failures.append(f"{url}: MD5 mismatch (expected {md5.lower()}, got {got})")
                continue
            os.replace(tmp, target)
            return target
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (OSError, ValueError) as exc:  # timeouts, connection resets, malformed URLs
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    lines = "\n".join(f"  - {f}" for f in failures)
    raise DownloadError(f"could not download {filename} into {folder}; every mirror failed:\n{lines}")
