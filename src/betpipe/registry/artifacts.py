"""Content-addressed artifact storage: a model's files plus a manifest of their sha256, under the manifest's sha256.

Layout: ``<root>/<manifest sha256>/manifest.json`` and ``<root>/<manifest sha256>/files/<the model's files>``.
Must never deserialise a byte that was not verified first: ``verified_copy`` checks the manifest against the
registered hash, every file against the manifest and the file set against the manifest, and only then hands out a
private copy of those very bytes (no window between checking and reading). Only ``.json``, ``.npz`` and ``.txt``
files are accepted, on the way in and on the way out, so nothing the project did not write as data gets unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from betpipe.db.engine import private_dir
from betpipe.registry.errors import ArtifactIntegrityError, UnsafeArtifactError

ALLOWED_SUFFIXES = frozenset({".json", ".npz", ".txt"})
MANIFEST_NAME = "manifest.json"
FILES_DIR = "files"
MANIFEST_FORMAT = "betpipe-artifact/1"
# A fixed timestamp for zip members: numpy stamps the wall clock into every .npz, which would give the same model a
# new address on every save.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    path: Path
    files: dict[str, str]  # relative posix path -> sha256
    created: bool  # False when the identical artifact was already stored


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_npz(data: bytes, name: str) -> bytes:
    """Rewrite an ``.npz`` zip with fixed member timestamps and order; member bytes are copied, never parsed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            members = sorted(source.infolist(), key=lambda info: info.filename)
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", allowZip64=True) as target:
                for info in members:
                    if not info.filename.endswith(".npy"):
                        raise UnsafeArtifactError(f"{name}: member {info.filename!r} is not a .npy array")
                    fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
                    fixed.compress_type = info.compress_type
                    fixed.external_attr = 0o644 << 16
                    target.writestr(fixed, source.read(info))
    except zipfile.BadZipFile as error:
        raise UnsafeArtifactError(f"{name}: not a valid .npz archive ({error})") from error
    return out.getvalue()


def _check_name(relative: str) -> None:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or relative in ("", "."):
        raise UnsafeArtifactError(f"artifact file name {relative!r} escapes the artifact directory")
    if path.suffix.lower() not in ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(ALLOWED_SUFFIXES))
        raise UnsafeArtifactError(
            f"artifact file {relative!r} has a type the registry never loads (allowed: {allowed}); "
            "pickle/joblib files are refused"
        )


def _walk(directory: Path) -> Iterator[tuple[str, Path]]:
    """Every entry below ``directory`` as (relative posix name, path); symlinks and odd entries are refused."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise UnsafeArtifactError(f"artifact entry {relative!r} is a symlink; refused")
        if path.is_dir():
            continue
        if not path.is_file():
            raise UnsafeArtifactError(f"artifact entry {relative!r} is not a regular file; refused")
        yield relative, path


def manifest_bytes(model_type: str, files: dict[str, str]) -> bytes:
    document = {"format": MANIFEST_FORMAT, "model_type": model_type, "files": dict(sorted(files.items()))}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def store_artifact(root: Path, model_type: str, save: Callable[[Path], None]) -> StoredArtifact:
    """Let ``save`` write the model into a staging folder, then file it under the manifest's hash (idempotent)."""
    private_dir(root)  # under the data dir: 0700, like the store itself
    staging = root / f".staging-{uuid.uuid4().hex}"
    try:
        raw_dir = staging / "raw"
        raw_dir.mkdir(parents=True)
        save(raw_dir)
        contents: dict[str, bytes] = {}
        for relative, path in _walk(raw_dir):
            _check_name(relative)
            data = path.read_bytes()
            contents[relative] = canonical_npz(data, relative) if relative.lower().endswith(".npz") else data
        if not contents:
            raise ArtifactIntegrityError(f"model type {model_type!r} saved no files: nothing to register")
        files = {relative: sha256_bytes(data) for relative, data in contents.items()}
        manifest = manifest_bytes(model_type, files)
        digest = sha256_bytes(manifest)
        final = root / digest
        if final.exists():
            verify_artifact(final, digest)  # the same model again: keep the stored copy, but only if it is intact
            return StoredArtifact(digest, final, files, created=False)
        packed = staging / "packed"
        for relative, data in contents.items():
            target = packed / FILES_DIR / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o444)
        (packed / MANIFEST_NAME).write_bytes(manifest)
        (packed / MANIFEST_NAME).chmod(0o444)
        try:
            os.rename(packed, final)
        except OSError:
            if not final.is_dir():
                raise
            verify_artifact(final, digest)  # another process filed the identical artifact first
            return StoredArtifact(digest, final, files, created=False)
        return StoredArtifact(digest, final, files, created=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_manifest(directory: Path, expected_sha: str) -> tuple[bytes, dict[str, Any]]:
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(f"artifact {expected_sha}: {manifest_path} is missing")
    raw = manifest_path.read_bytes()
    actual = sha256_bytes(raw)
    if actual != expected_sha:
        raise ArtifactIntegrityError(
            f"artifact {expected_sha}: {MANIFEST_NAME} was modified "
            f"(registered sha256 {expected_sha}, file now hashes to {actual}); refusing to load"
        )
    document = json.loads(raw)
    if document.get("format") != MANIFEST_FORMAT or not isinstance(document.get("files"), dict):
        raise ArtifactIntegrityError(f"artifact {expected_sha}: unknown manifest format {document.get('format')!r}")
    return raw, document


def verify_artifact(directory: Path, expected_sha: str) -> dict[str, bytes]:
    """The verified bytes of every file, keyed by relative name; raises before anything could be deserialised."""
    if not directory.is_dir():
        raise ArtifactIntegrityError(f"artifact {expected_sha}: directory {directory} is missing")
    _, document = _read_manifest(directory, expected_sha)
    expected: dict[str, str] = document["files"]
    files_dir = directory / FILES_DIR
    present = dict(_walk(files_dir)) if files_dir.is_dir() else {}
    for relative in present:
        _check_name(relative)  # a planted .pkl is refused by type before anything else
    extra = sorted(set(present) - set(expected))
    if extra:
        raise ArtifactIntegrityError(f"artifact {expected_sha}: files not in the manifest: {', '.join(extra)}")
    verified: dict[str, bytes] = {}
    for relative, registered in sorted(expected.items()):
        _check_name(relative)
        if relative not in present:
            raise ArtifactIntegrityError(f"artifact {expected_sha}: file {relative!r} is missing")
        data = present[relative].read_bytes()
        actual = sha256_bytes(data)
        if actual != registered:
            raise ArtifactIntegrityError(
                f"artifact {expected_sha}: file {relative!r} was modified "
                f"(manifest sha256 {registered}, file now hashes to {actual}); refusing to load"
            )
        verified[relative] = data
    return verified


def manifest_model_type(directory: Path, expected_sha: str) -> str:
    _, document = _read_manifest(directory, expected_sha)
    return str(document.get("model_type"))


@contextmanager
def verified_copy(directory: Path, expected_sha: str) -> Iterator[Path]:
    """A private temporary folder holding exactly the verified bytes; removed when the block ends."""
    verified = verify_artifact(directory, expected_sha)
    with tempfile.TemporaryDirectory(prefix="betpipe-artifact-") as tmp:
        target_root = Path(tmp)
        for relative, data in verified.items():
            target = target_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        yield target_root
