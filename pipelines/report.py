"""The validation report every pipeline returns: every problem, with file, line and rule."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    rule: str
    message: str
    file: str
    line: int | None = None
    feature: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (f" [{self.feature}]" if self.feature else "")
        return f"{where}: {self.severity}: {self.rule}: {self.message}"


@dataclass
class Report:
    dataset_id: str
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def error(self, rule: str, message: str, file: Path | str, line: int | None = None,
              feature: str | None = None) -> None:
        self.findings.append(Finding("error", rule, message, str(file), line, feature))

    def warning(self, rule: str, message: str, file: Path | str, line: int | None = None,
                feature: str | None = None) -> None:
        self.findings.append(Finding("warning", rule, message, str(file), line, feature))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_json(self) -> str:
        return json.dumps({"dataset": self.dataset_id, "counts": self.counts,
                           "errors": len(self.errors), "warnings": len(self.warnings),
                           "findings": [asdict(f) for f in self.findings]}, ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        head = [f"Valideringsrapport for {self.dataset_id}",
                *(f"  {k}: {v}" for k, v in self.counts.items()),
                f"  feil: {len(self.errors)}, åtvaringar: {len(self.warnings)}", ""]
        return "\n".join(head + [str(f) for f in self.findings]) + "\n"

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        js, txt = folder / f"{self.dataset_id}.json", folder / f"{self.dataset_id}.txt"
        js.write_text(self.to_json(), encoding="utf-8")
        txt.write_text(self.to_text(), encoding="utf-8")
        return js, txt


@dataclass
class Result:
    tables: dict[str, gpd.GeoDataFrame]
    report: Report
    sub_reports: dict[str, Report] = field(default_factory=dict)  # e.g. one per plan
