"""The staking policy: how a strategy turns an edge into a stake, as one frozen value and a one-line text form.

The text form is what the CLI and the backtest report carry (``--staking kelly:0.25,simultaneous,shrink=0.5``), so
``StakingPolicy.parse(str(policy)) == policy`` always holds. This module only describes and validates a policy: it
never sizes a bet, and it never accepts a setting it would have to reinterpret (a bad value is a ``ValueError``
naming it, at parse time, never later in the hot path).

>>> StakingPolicy.parse("kelly:0.25").kelly_fraction
Decimal('0.25')
>>> str(StakingPolicy.parse("kelly:0.5, simultaneous, shrink=0.5, max_fraction=0.02"))
'kelly:0.5,simultaneous,max_fraction=0.02,shrink=0.5'

The live account's policy (``StakingPolicy.from_settings``) is its ``[pipeline]`` staking text with the account's
``[bankroll]`` Kelly fraction and cap filling whatever that text does not state:

>>> str(StakingPolicy.parse_with_defaults("kelly,simultaneous", kelly_fraction="0.1", max_fraction="0.02"))
'kelly:0.1,simultaneous,max_fraction=0.02'
>>> str(StakingPolicy.parse_with_defaults("kelly:0.5,max_fraction=0.05", kelly_fraction="0.1", max_fraction="0.02"))
'kelly:0.5,max_fraction=0.05'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from betpipe.config import Settings

__all__ = ["StakingPolicy"]

StakeKind = Literal["flat", "kelly"]

# key in the text form -> (dataclass field, type); the order is the canonical order of ``str(policy)``.
_OPTIONS: dict[str, tuple[str, type]] = {
    "fraction": ("kelly_fraction", Decimal),
    "stake": ("flat_stake", Decimal),
    "min_edge": ("min_edge", float),
    "min_stake": ("min_stake", Decimal),
    "max_stake": ("max_stake", Decimal),
    "max_fraction": ("max_fraction", Decimal),
    "increment": ("stake_increment", Decimal),
    "shrink": ("shrink", float),
}
_FLAGS = {"simultaneous": True, "single": False}
_DECIMAL_FIELDS = ("kelly_fraction", "flat_stake", "min_stake", "max_stake", "max_fraction", "stake_increment")


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValueError(f"{name} must be a decimal number; got {value!r}")
    try:
        # str() first so that 0.1 means 0.1, not the binary float closest to it.
        out = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{name} must be a decimal number; got {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"{name} must be finite; got {value!r}")
    return out


def _float(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number; got {value!r}")
    try:
        out = float(cast(Any, value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return out


@dataclass(frozen=True)
class StakingPolicy:
    """One strategy's staking rules. Money fields are Decimal; ``min_edge`` and ``shrink`` are probabilities' kin.

    - ``kind``: ``kelly`` stakes ``kelly_fraction`` of the Kelly optimum; ``flat`` stakes ``flat_stake`` per bet.
    - ``simultaneous``: exact simultaneous Kelly over an event's mutually exclusive outcomes (flat: every selection
      over the minimum edge); otherwise at most one bet per event, on the largest edge.
    - ``min_edge``: a selection is bet only when ``p * price - 1 > min_edge`` (p after shrinkage).
    - ``shrink``: weight on the market probability in the log-linear pool, used when a market probability is given.
    - ``max_fraction`` (of bankroll) and ``max_stake`` cap each bet; a stake is rounded down to ``stake_increment``
      and dropped (not raised) when that leaves it under ``min_stake``.
    """

    kind: StakeKind = "kelly"
    kelly_fraction: Decimal = Decimal("1")
    flat_stake: Decimal = Decimal("1")
    min_edge: float = 0.0
    min_stake: Decimal = Decimal("0")
    max_stake: Decimal | None = None
    max_fraction: Decimal = Decimal("1")
    stake_increment: Decimal = Decimal("0.01")
    simultaneous: bool = False
    shrink: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "kelly"):
            raise ValueError(f"staking kind must be 'kelly' or 'flat'; got {self.kind!r}")
        for name in _DECIMAL_FIELDS:
            value = getattr(self, name)
            if value is not None or name != "max_stake":
                object.__setattr__(self, name, _decimal(value, name))
        object.__setattr__(self, "min_edge", _float(self.min_edge, "min_edge"))
        object.__setattr__(self, "shrink", _float(self.shrink, "shrink"))
        if not isinstance(self.simultaneous, bool):
            raise ValueError(f"simultaneous must be a bool; got {self.simultaneous!r}")
        rules: list[tuple[bool, str]] = [
            (Decimal(0) < self.kelly_fraction <= 1, f"kelly fraction must be in (0, 1]; got {self.kelly_fraction}"),
            (self.flat_stake > 0, f"flat stake must be > 0; got {self.flat_stake}"),
            (self.min_edge >= 0, f"min_edge must be >= 0 (a bet needs a positive edge); got {self.min_edge}"),
            (self.min_stake >= 0, f"min_stake must be >= 0; got {self.min_stake}"),
            (Decimal(0) < self.max_fraction <= 1, f"max_fraction must be in (0, 1]; got {self.max_fraction}"),
            (self.stake_increment > 0, f"stake increment must be > 0; got {self.stake_increment}"),
            (0.0 <= self.shrink <= 1.0, f"shrink (weight on the market) must be in [0, 1]; got {self.shrink}"),
        ]
        if self.max_stake is not None:
            rules.append((self.max_stake > 0, f"max_stake must be > 0; got {self.max_stake}"))
            rules.append((self.max_stake >= self.min_stake, "max_stake must be >= min_stake"))
        for ok, message in rules:
            if not ok:
                raise ValueError(message)

    @classmethod
    def parse(cls, text: str, **overrides: Any) -> StakingPolicy:
        """``kind[:value][,option]...``: ``kelly`` (full), ``kelly:0.25``, ``flat:10``, then flags
        ``simultaneous``/``single`` and ``key=value`` for fraction, stake, min_edge, min_stake, max_stake,
        max_fraction, increment, shrink. Keyword ``overrides`` (field names) win over the text."""
        return cls._build({}, cls._text_fields(text), overrides)

    @classmethod
    def parse_with_defaults(
        cls,
        text: str,
        *,
        kelly_fraction: Decimal | str | None = None,
        max_fraction: Decimal | str | None = None,
        max_stake: Decimal | str | None = None,
        **overrides: Any,
    ) -> StakingPolicy:
        """``parse`` where the keywords fill only what ``text`` leaves unstated (None: the class default).

        Precedence, highest first: ``overrides``, the text (``kelly:0.5``, ``max_fraction=``, ``max_stake=``), these
        defaults. ``kelly_fraction`` only applies to a Kelly policy; the caps apply to flat stakes too.
        """
        fields = cls._text_fields(text)
        defaults: dict[str, Any] = {"max_fraction": max_fraction, "max_stake": max_stake}
        if fields["kind"] == "kelly":
            defaults["kelly_fraction"] = kelly_fraction
        return cls._build({k: v for k, v in defaults.items() if v is not None}, fields, overrides)

    @classmethod
    def from_settings(cls, settings: Settings) -> StakingPolicy:
        """The live account's policy: ``[pipeline]`` ``staking`` and ``min_edge``, with ``[bankroll]``
        ``kelly_fraction`` and ``max_stake_fraction`` and ``[risk]`` ``max_stake`` as the defaults of what the text
        does not state. So sizing itself keeps each stake within the account's caps, and the risk controls are a
        safety net behind it, not the sizing rule.

        A staking text nobody configured states nothing: the built-in ``[pipeline]`` default counts as ``kelly``, so
        ``BETPIPE_BANKROLL__KELLY_FRACTION`` sets the fraction unless ``BETPIPE_PIPELINE__STAKING`` names one.
        """
        p, bankroll, risk = settings.pipeline, settings.bankroll, settings.risk
        text = p.staking if "staking" in p.model_fields_set else "kelly"
        try:
            return cls.parse_with_defaults(
                text,
                kelly_fraction=bankroll.kelly_fraction,
                max_fraction=bankroll.max_stake_fraction,
                max_stake=risk.max_stake,
                min_edge=p.min_edge,
            )
        except ValueError as error:  # name the settings: the user wrote those, not a policy
            raise ValueError(
                f"staking settings: {error} (pipeline.staking {text!r}, bankroll.kelly_fraction "
                f"{bankroll.kelly_fraction}, bankroll.max_stake_fraction {bankroll.max_stake_fraction}, "
                f"risk.max_stake {risk.max_stake}, pipeline.min_edge {p.min_edge})"
            ) from None

    @classmethod
    def _build(cls, defaults: dict[str, Any], fields: dict[str, Any], overrides: dict[str, Any]) -> StakingPolicy:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown staking policy field(s): {', '.join(sorted(unknown))}")
        return cls(**{**defaults, **fields, **overrides})

    @staticmethod
    def _text_fields(text: str) -> dict[str, Any]:
        """The fields a staking text states, and only those."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a staking policy is text like 'kelly:0.25' or 'flat:1'; got an empty value")
        head, *options = (part.strip() for part in text.strip().lower().split(","))
        kind, sep, amount = (part.strip() for part in head.partition(":"))
        if kind not in ("kelly", "flat"):
            raise ValueError(
                f"unknown staking kind {kind!r} in {text!r}; expected 'kelly[:fraction]' or 'flat[:stake]'"
            )
        fields: dict[str, Any] = {"kind": kind}
        if sep:
            fields["kelly_fraction" if kind == "kelly" else "flat_stake"] = _decimal(amount, f"{kind} amount")
        seen: set[str] = set()
        for option in options:
            key, eq, value = (part.strip() for part in option.partition("="))
            if key in seen:
                raise ValueError(f"option {key!r} given twice in {text!r}")
            seen.add(key)
            if not eq and key in _FLAGS:
                fields["simultaneous"] = _FLAGS[key]
            elif eq and key in _OPTIONS:
                name, kind_of = _OPTIONS[key]
                if name in fields:
                    raise ValueError(f"{key!r} repeats the amount after {kind!r} in {text!r}")
                fields[name] = _decimal(value, key) if kind_of is Decimal else _float(value, key)
            else:
                known = ", ".join([*_FLAGS, *(f"{k}=" for k in _OPTIONS)])
                raise ValueError(f"unknown staking option {option!r} in {text!r}; known: {known}")
        return fields

    def __str__(self) -> str:
        default = StakingPolicy()
        amount = self.kelly_fraction if self.kind == "kelly" else self.flat_stake
        parts = [f"{self.kind}:{amount}"]
        main_key = "fraction" if self.kind == "kelly" else "stake"
        if self.simultaneous:
            parts.append("simultaneous")
        for key, (name, _) in _OPTIONS.items():
            value = getattr(self, name)
            if value != getattr(default, name) and key != main_key:
                parts.append(f"{key}={value}")
        return ",".join(parts)
