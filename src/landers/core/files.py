"""Reading and writing a run's plain files so that no failure loses or garbles what is there:
JSON read with one-sentence errors, CSV rows appended whole, CSV rows read back with torn or
garbage lines dropped and counted."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from landers.errors import LandersError, WriteFailed


def write_failed(path: Path, error: OSError) -> WriteFailed:
    return WriteFailed(f"Cannot write '{path}': {error.strerror or error}.")


def read_json(path: Path) -> Any:
    """The JSON value in `path`; one sentence when it cannot be read or is not JSON."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except OSError as e:
        raise LandersError(f"Cannot read '{path}': {e.strerror}.") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        detail = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        raise LandersError(f"'{path}' is not valid JSON ({detail}); it is corrupt.") from None


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise LandersError(f"'{path}' is corrupt: it holds a JSON {type(data).__name__}, not an object.")
    return data


def _json_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_eval(path: Path) -> dict:
    """eval.json with the fields reports and comparisons read, checked: one sentence if it is
    corrupt."""
    result = read_json_object(path)
    parts = [result] + ([result["random"]] if "random" in result else [])
    for part in parts:
        ok = (isinstance(part, dict) and all(_json_number(part.get(k)) for k in ("mean", "std", "episodes"))
              and isinstance(part.get("returns"), list) and part["returns"]
              and all(map(_json_number, part["returns"])))
        if not ok:
            raise LandersError(f"'{path}' is corrupt: it lacks the evaluation's mean, std, episodes or returns.")
    if not all(_json_number(result.get(k)) for k in ("step", "train_time")):
        raise LandersError(f"'{path}' is corrupt: it lacks the step and train_time of the evaluation.")
    return result


def _number(cell: str) -> bool:
    if cell == "":
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_table(path: Path) -> tuple[list[str], list[list[str]], int]:
    """(header, rows, dropped) of a landers CSV: a header whose first column is `step`, then
    rows whose cells are numbers or empty.

    A row is kept only if it ends with a newline (a crash can leave the last one torn), has the
    header's number of cells and every cell is a number or empty; `dropped` counts the rest.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], [], 0
    except OSError as e:
        raise LandersError(f"Cannot read '{path}': {e.strerror}.") from None
    lines = text.split("\n")
    tail = lines.pop()  # text after the last newline: empty, or a torn row
    dropped = int(tail.strip() != "")
    header: list[str] = []
    rows: list[list[str]] = []
    for line in lines:
        try:
            cells = next(csv.reader([line.rstrip("\r")]), [])
        except csv.Error:  # e.g. a NUL byte on Python 3.10, an overlong field
            cells = None
        if not header:
            if cells and cells[0] == "step" and all(c and not _number(c) for c in cells):
                header = cells
            else:
                dropped += 1
            continue
        if cells is not None and len(cells) == len(header) and all(_number(c) for c in cells):
            rows.append(cells)
        else:
            dropped += 1
    return header, rows, dropped


def row_step(row: list[str]) -> float:
    """The step of a row read by `read_table` (its first cell), NaN if it has none."""
    value = float(row[0]) if row and row[0] else math.nan
    return value if math.isfinite(value) else math.nan


class CsvAppender:
    """Appends rows to a CSV with one `write` per call, so that a crash never leaves half a
    row; a failed write (disk full) is undone back to the last whole row."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = Path(path), columns
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise write_failed(self.path, e) from None
        if os.fstat(self.fd).st_size == 0:
            self.write_rows([columns])

    def write_rows(self, rows: list[list[Any]]) -> None:
        """Append `rows` (lists of cells) in one write."""
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        data = buffer.getvalue().encode()
        size = os.fstat(self.fd).st_size
        try:
            written = os.write(self.fd, data)
            if written != len(data):  # a short write: the disk filled up mid-row
                raise OSError(28, os.strerror(28))
        except OSError as e:
            try:
                os.ftruncate(self.fd, size)
            except OSError:
                pass  # readers drop a torn last line anyway
            raise write_failed(self.path, e) from None

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.write_rows([[row.get(c, "") for c in self.columns] for row in rows])

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
