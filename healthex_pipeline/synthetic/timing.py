"""Local timestamps with the UTC offset a US clinic's EHR would print, DST included."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from healthex_pipeline.synthetic.demographics import Place


def _nth_sunday(year: int, month: int, n: int) -> date:
    """The n-th Sunday of a month (US DST starts on the 2nd of March, ends on the 1st of Nov)."""
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _offset(moment: datetime, place: Place) -> timezone:
    """The UTC offset in force at the place on that local day."""
    in_dst = place.observes_dst and (
        _nth_sunday(moment.year, 3, 2) <= moment.date() < _nth_sunday(moment.year, 11, 1)
    )
    return timezone(timedelta(hours=place.utc_offset + (1 if in_dst else 0)))


def aware(moment: datetime, place: Place) -> datetime:
    """The local wall-clock time with the offset in force at the place."""
    return moment.replace(tzinfo=_offset(moment, place))


def local_datetime(moment: datetime, place: Place) -> str:
    """A FHIR dateTime such as ``2023-04-05T09:30:00-04:00``."""
    return aware(moment, place).isoformat(timespec="seconds")


def local_instant(moment: datetime, place: Place) -> str:
    """A FHIR instant with milliseconds, as result systems stamp ``issued``."""
    return aware(moment, place).isoformat(timespec="milliseconds")
