"""Saving and loading detection records as NumPy ``.npz`` or Apache Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qinternet.errors import ParameterError
from qinternet.outputs import replacing
from qinternet.qkd.record import DetectionRecord

__all__ = ["load_record", "save_record"]

_SUFFIXES = (".npz", ".parquet")


def _check_suffix(path: Path, field: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ParameterError(field, f"file must end in .npz or .parquet, got {path.name!r}")
    return suffix


def save_record(record: DetectionRecord, path: Path, *, field: str = "path") -> None:
    """Write ``record`` to ``path``; the format follows the suffix (``.npz`` or ``.parquet``).

    Parquet files hold one row per event; the intensities, the number of pulses and the sent counts
    go into the schema metadata under ``qinternet``. The file is written whole or not at all.
    """
    suffix = _check_suffix(path, field)
    meta = {"intensities": list(record.intensities), "pulses": record.pulses, "sent": record.sent.tolist()}
    with replacing(path, field) as temporary:
        if suffix == ".npz":
            with temporary.open("wb") as handle:  # a handle: numpy would add .npz to a temporary name
                np.savez_compressed(handle, **record.columns(), meta=np.array(json.dumps(meta)))
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(record.columns()).replace_schema_metadata({"qinternet": json.dumps(meta)})
        pq.write_table(table, temporary)


def load_record(path: Path, *, field: str = "path") -> DetectionRecord:
    """Read a record written by :func:`save_record`."""
    suffix = _check_suffix(path, field)
    if suffix == ".npz":
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            columns = {name: data[name] for name in DetectionRecord.COLUMNS}
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"qinternet"])
        columns = {name: table.column(name).to_numpy() for name in DetectionRecord.COLUMNS}
    return DetectionRecord(
        **columns,
        intensities=tuple(meta["intensities"]),
        pulses=int(meta["pulses"]),
        sent=np.asarray(meta["sent"], dtype=np.int64),
    )
