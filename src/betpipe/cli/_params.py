"""Typer's option coercion, minus the pydantic import for values that need no validating.

Typer (0.29) turns each option value into its Python type through a pydantic ``TypeAdapter`` built on first use,
even for an option left unset. Building the first one imports pydantic: about a third of ``betpipe bets list``'s CPU,
for ``--limit 50`` and two unset options (docs/benchmarks.md, CLI start-up). The values a command line mostly
carries need no pydantic: an unset option; a ``bool`` for a flag; any string for a ``str`` option; a plain decimal
``int`` inside an ``int`` option's range. Those are answered here with the value typer's coercion returns for them;
every other value, and so every error message, goes through typer's own coercion, built only then.
tests/test_cli_params.py checks the two agree.

Relies on typer internals (``typer.core.build_runtime_param``, ``typer._coercion``) of the version requirements.lock
pins; tests/test_cli_params.py fails if an upgrade moves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer.core
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param

if TYPE_CHECKING:
    from typer._click import Context
    from typer.core import _TyperParameter

__all__ = ["install"]

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,17}")  # what int() and pydantic read alike: no sign, blank, "_" or 0-prefix
_PLAIN_TYPES = (str, int, bool)


@dataclass(frozen=True)
class LazyRuntimeParam(RuntimeParam):
    """A ``str``, ``int`` or ``bool`` option: plain values answered here, the rest by typer's coercion (built once,
    on demand). ``RuntimeParam.coerce`` has already answered an unset value and checked multi-value shapes."""

    descriptor: TypeDescriptor = field(compare=False)
    _built: list[RuntimeParam] = field(default_factory=list, compare=False, repr=False)

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        if self.annotation in (str, bool) and type(value) is self.annotation:
            return value
        if self.annotation is int and (type(value) is int or (type(value) is str and _DECIMAL.fullmatch(value))):
            number = int(value)
            low, high = self.parameter_info.min, self.parameter_info.max
            if (low is None or number >= low) and (high is None or number <= high):
                return number
        return self.typer_param()._coerce_value(value, param=param, ctx=ctx)

    def typer_param(self) -> RuntimeParam:
        """Typer's own coercion for this option (imports pydantic the first time)."""
        if not self._built:
            self._built.append(build_runtime_param(self.descriptor))
        return self._built[0]


def _build(descriptor: TypeDescriptor) -> RuntimeParam:
    """``build_runtime_param`` for ``typer.core``: lazy for a single plain value, typer's own for anything else."""
    info = descriptor.parameter_info
    plain = descriptor.annotation in _PLAIN_TYPES and descriptor.file_annotation is None
    if plain and info.parser is None and not info.clamp:
        return LazyRuntimeParam(parameter_info=info, annotation=descriptor.annotation, descriptor=descriptor)
    return build_runtime_param(descriptor)


def install() -> None:
    """Make typer build parameters' coercion with ``_build``; idempotent. Called when the CLI is imported."""
    typer.core.build_runtime_param = _build  # type: ignore[attr-defined]  # the name typer.core calls it by
