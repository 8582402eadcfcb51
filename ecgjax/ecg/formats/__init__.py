"""Readers for ECG file formats. Each returns an `EcgRecord` in µV, standard
lead order, or raises `RecordFormatError` naming the file and the reason."""

from ecgjax.ecg.formats.errors import RecordFormatError

__all__ = ["RecordFormatError"]
