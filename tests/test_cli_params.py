"""Option values coerced without pydantic (cli/_params) are exactly what typer's own coercion makes of them.

The failure this prevents: a start-up shortcut that reads ``--limit 010`` or ``--limit " 5"`` differently from typer,
or accepts a value typer refuses (and so loses its error message). Every value below goes through both; each must
return the same value or fail with the same message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param
from typer.testing import CliRunner

import betpipe.cli
from betpipe.cli import _params

_demo = typer.Typer()


@_demo.command()
def _command(
    name: str = typer.Option("x"),
    maybe: str | None = typer.Option(None),
    count: int = typer.Option(50, min=1, max=2**63 - 1),
    any_int: int = typer.Option(0),
    upper_only: int = typer.Option(3, max=10),
    flag: bool = typer.Option(False),
    path: Path = typer.Option(Path(".")),
    share: float = typer.Option(0.5),
    many: list[str] = typer.Option([]),
    clamped: int = typer.Option(5, min=1, max=9, clamp=True),
) -> None:
    """Options of every kind the CLI uses."""


VALUES: tuple[Any, ...] = (
    None, "", "x", " 10", "10 ", "10", "010", "0", "00", "+5", "-3", "1_0", "1e3", "0x10", "٣", "9" * 18, "9" * 19,
    "99999999999999999999", "2.5", "true", "no", b"bytes", 0, 1, 50, 2**63 - 1, 2**63, -1, True, False, 2.0, 2.5,
    ("a", "b"), ["10"],
)  # fmt: skip


def _outcome(runtime: Any, value: Any, param: Any, ctx: Context) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as error:
        return "error", error.format_message()
    return type(result).__name__, result


@pytest.fixture(scope="module")
def command() -> typer.core.TyperCommand:
    built = typer.main.get_command(_demo)
    assert isinstance(built, typer.core.TyperCommand)
    return built


def test_typer_still_builds_coercion_through_the_name_that_is_replaced() -> None:
    """If an upgrade renames it, the shortcut would silently stop applying (and the CLI would start slower)."""
    assert "build_runtime_param" in typer.core._TyperParameter.get_runtime_param.__code__.co_names
    assert typer.core.build_runtime_param is _params._build  # type: ignore[attr-defined]


def test_plain_options_are_lazy_and_the_rest_are_typers_own(command: typer.core.TyperCommand) -> None:
    kinds = {p.name: type(_params._build(p.type_descriptor)).__name__ for p in command.params}  # type: ignore[attr-defined]
    lazy = {name for name, kind in kinds.items() if kind == "LazyRuntimeParam"}
    plain = {"name", "maybe", "count", "any_int", "upper_only", "flag", "install_completion", "show_completion"}
    assert lazy == plain, kinds


def test_every_value_gets_what_typers_coercion_gives_it(command: typer.core.TyperCommand) -> None:
    ctx = Context(command)
    compared = 0
    for param in command.params:
        descriptor = param.type_descriptor  # type: ignore[attr-defined]
        ours, theirs = _params._build(descriptor), build_runtime_param(descriptor)
        for value in VALUES:
            expected = _outcome(theirs, value, param, ctx)
            assert _outcome(ours, value, param, ctx) == expected, (param.name, value)
            compared += 1
    assert compared == len(command.params) * len(VALUES)


def test_a_lazy_option_answers_plain_values_without_typers_coercion(command: typer.core.TyperCommand) -> None:
    ctx = Context(command)
    count = next(p for p in command.params if p.name == "count")
    lazy = _params._build(count.type_descriptor)  # type: ignore[attr-defined]
    assert isinstance(lazy, _params.LazyRuntimeParam)
    assert lazy.coerce("10", param=count, ctx=ctx) == 10
    assert lazy.coerce(None, param=count, ctx=ctx) is None
    assert lazy._built == []  # nothing built: pydantic not needed
    with pytest.raises(BadParameter, match="greater than or equal to 1"):
        lazy.coerce("0", param=count, ctx=ctx)
    assert len(lazy._built) == 1  # the error came from typer's own coercion


def test_the_cli_still_refuses_bad_option_values_with_typers_message() -> None:
    result = CliRunner().invoke(betpipe.cli.app, ["bets", "list", "--limit", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.output
    assert "greater than or equal to 1" in result.output
    result = CliRunner().invoke(betpipe.cli.app, ["bets", "list", "--limit", "ten"])
    assert result.exit_code == 2
    assert "valid integer" in result.output
