"""Strict readers for JSON values: a wrong shape raises ProviderDataError, never guesses."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from .base import ProviderDataError


def require_dict(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ProviderDataError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def require_list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise ProviderDataError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def require_str(obj: dict, key: str, where: str) -> str:
    if key not in obj:
        raise ProviderDataError(f"{where}: field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ProviderDataError(f"{where}: field {key!r} must be a non-empty string")
    return value


def optional_str(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProviderDataError(f"{where}: field {key!r} must be a string or null")
    return value


def number(value: Any, where: str, key: str = "") -> Decimal:
    """A JSON number as Decimal. Strings, booleans and non-finite values are data errors.
    (``where`` and ``key`` only name the value in the error.)"""
    kind = type(value)  # exact types: a bool is not a number here
    if kind is Decimal:  # how the provider client reads a number with a fraction
        if not value.is_finite():
            raise ProviderDataError(f"{where}{'.' + key if key else ''}: not a finite number")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ProviderDataError(f"{where}{'.' + key if key else ''}: not a finite number")
        return Decimal(repr(value))  # the shortest text of the float, as it was sent
    if kind is int:
        return Decimal(value)
    raise ProviderDataError(f"{where}{'.' + key if key else ''}: expected a number, got {kind.__name__}")


def optional_number(obj: dict, key: str, where: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    return number(value, where, key)


def iso_datetime(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ProviderDataError(f"{where}: expected an ISO-8601 string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProviderDataError(f"{where}: {value!r} is not an ISO-8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def iso_date(value: Any, where: str) -> dt.date:
    if not isinstance(value, str):
        raise ProviderDataError(f"{where}: expected a YYYY-MM-DD string")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ProviderDataError(f"{where}: {value!r} is not a date") from exc


def optional_date(obj: dict, key: str, where: str) -> dt.date | None:
    value = obj.get(key)
    return None if value is None else iso_date(value, f"{where}.{key}")


def optional_decimal_string(obj: dict, key: str, where: str) -> Decimal | None:
    """Accrual's own files write amounts as decimal strings to keep them exact."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProviderDataError(f"{where}.{key}: expected a decimal string")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ProviderDataError(f"{where}.{key}: {value!r} is not a decimal") from exc
    if not result.is_finite():
        raise ProviderDataError(f"{where}.{key}: not a finite number")
    return result


def unix_seconds(value: Any, where: str) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProviderDataError(f"{where}: expected a unix timestamp")
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


def unix_millis(value: Any, where: str) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ProviderDataError(f"{where}: expected a millisecond timestamp")
    return dt.datetime.fromtimestamp(float(value) / 1000, tz=dt.UTC)
