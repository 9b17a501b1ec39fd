"""The registry's exceptions: each names what is wrong and what to do, so the CLI can print it as is.

Never catch these to carry on with a model: an integrity error means the artifact must not be used.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every registry failure the caller can act on."""


class VersionNotFoundError(RegistryError, LookupError):
    """A model version id that is not registered."""


class ArtifactIntegrityError(RegistryError):
    """An artifact whose bytes differ from what was registered; nothing was deserialised."""


class UnsafeArtifactError(ArtifactIntegrityError):
    """An artifact holding a file type the registry never deserialises (pickle, joblib, anything not JSON/npz/txt)."""


class NoPreviousChampionError(RegistryError):
    """A rollback with nowhere to go back to."""


class AliasError(RegistryError):
    """An alias move that makes no sense (unknown alias, version of another sport or market, ...)."""
