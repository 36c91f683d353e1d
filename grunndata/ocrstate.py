"""OCR page state and the screening review queue, kept in the store's database like the access tables.

A SQLite file beside the GeoPackages (`grunndata_ocr.sqlite`), or schema `grunndata_ocr` in PostGIS (the writer's
role; no serving role is granted it: it holds unredacted OCR text). One row per page of a source file, keyed by the
file's SHA-256 and the page number, committed the moment the page is done: a run killed half-way leaves every
finished page here, and the next run OCRs only the others (pipelines/ocr.py). The review queue holds every
identifier the screening found on an OCR'd page and every page whose mean word confidence is below the threshold;
`grunndata arkiv review` approves or withholds them (a withheld item keeps its hjemmel). The database is private
(grunndata/private_db.py: a 0600 SQLite file in WAL mode, or the schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, inspect, select, text

from .private_db import OnPrivateDb, PrivateDb
from .settings import Settings

SCHEMA = "grunndata_ocr"
REVIEW_STATES = ("venter", "godkjent", "halde_tilbake")
# What a withheld item is exempt by when the reviewer names nothing else: personal circumstances (offentleglova § 13
# jf. forvaltningslova § 13 første ledd nr. 1), which is why the screening holds pages back.
PERSONAL_DATA_HJEMMEL = "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"


def _tables(schema: str | None) -> MetaData:
    md = MetaData(schema=schema)
    # status: ocr (done by OCR) | tekst (had a text layer: not redone) | feil (OCR failed: withheld)
    Table("side", md, Column("fil_sha256", String, primary_key=True), Column("side", Integer, primary_key=True),
          Column("status", String, nullable=False), Column("konfidens", Float), Column("ord", Integer),
          Column("tekst", Text), Column("funn", Text), Column("pdf", LargeBinary), Column("ferdig", String),
          Column("sekund", Float), Column("arbeidar", String))
    Table("gransking", md, Column("id", String, primary_key=True), Column("fil_sha256", String, nullable=False),
          Column("dokument", String), Column("side", Integer, nullable=False), Column("kind", String, nullable=False),
          Column("masked", String), Column("konfidens", Float), Column("status", String, nullable=False),
          Column("avgjort", String), Column("hjemmel", Text))  # hjemmel: why a withheld item is exempt
    return md


def _add_missing_columns(db: PrivateDb) -> None:
    """A state made before a column was added to _tables gets it (create_all makes only missing tables)."""
    for table in db.md.sorted_tables:
        have = {c["name"] for c in inspect(db.engine).get_columns(table.name, schema=db.schema)}
        for col in table.columns:
            if col.name not in have:
                name = f'"{db.schema}"."{table.name}"' if db.schema else f'"{table.name}"'
                with db.engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "{col.name}" '
                                      f'{col.type.compile(db.engine.dialect)}'))


@dataclass
class PageState:
    sha256: str
    page: int
    status: str
    confidence: float | None
    words: int
    text: str
    findings: list[dict]
    pdf: bytes | None
    finished: str
    seconds: float
    worker: str


@dataclass
class ReviewItem:
    id: str
    sha256: str
    document: str
    page: int
    kind: str
    masked: str
    confidence: float | None
    status: str
    hjemmel: str = ""


class OcrState(OnPrivateDb):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def db(self) -> PrivateDb:
        db = PrivateDb(self.settings, SCHEMA, "grunndata_ocr.sqlite", _tables)  # unredacted text: owner only
        _add_missing_columns(db)
        return db

    # -- pages -----------------------------------------------------------------------------------------------
    def done_pages(self, sha256s: list[str]) -> set[tuple[str, int]]:
        side = self.t("side")
        with self.engine.connect() as conn:
            rows = conn.execute(select(side.c.fil_sha256, side.c.side).where(side.c.fil_sha256.in_(sha256s)))
            return {(r[0], r[1]) for r in rows}

    def save_page(self, p: PageState) -> None:
        """One page, committed at once (so a killed run keeps it)."""
        side = self.t("side")
        values = {"fil_sha256": p.sha256, "side": p.page, "status": p.status, "konfidens": p.confidence,
                  "ord": p.words, "tekst": p.text, "funn": json.dumps(p.findings), "pdf": p.pdf,
                  "ferdig": p.finished or _now(), "sekund": p.seconds, "arbeidar": p.worker}
        stmt = self._upsert(side).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["fil_sha256", "side"],
                                          set_={k: v for k, v in values.items() if k not in ("fil_sha256", "side")})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def pages(self, sha256: str) -> list[PageState]:
        side = self.t("side")
        with self.engine.connect() as conn:
            rows = conn.execute(select(side).where(side.c.fil_sha256 == sha256).order_by(side.c.side)).mappings()
            return [PageState(r["fil_sha256"], r["side"], r["status"], r["konfidens"], r["ord"] or 0,
                              r["tekst"] or "", json.loads(r["funn"] or "[]"), r["pdf"], r["ferdig"] or "",
                              r["sekund"] or 0.0, r["arbeidar"] or "") for r in rows]

    # -- review queue ----------------------------------------------------------------------------------------
    def flag(self, item: ReviewItem) -> None:
        """Add an item unless it is there (a decision already made is kept across builds)."""
        g = self.t("gransking")
        stmt = self._upsert(g).values(id=item.id, fil_sha256=item.sha256, dokument=item.document, side=item.page,
                                      kind=item.kind, masked=item.masked, konfidens=item.confidence,
                                      status="venter").on_conflict_do_nothing(index_elements=["id"])
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def review_items(self, status: str | None = None, sha256: str | None = None) -> list[ReviewItem]:
        g = self.t("gransking")
        q = select(g).order_by(g.c.dokument, g.c.side, g.c.id)
        if status:
            q = q.where(g.c.status == status)
        if sha256:
            q = q.where(g.c.fil_sha256 == sha256)
        with self.engine.connect() as conn:
            return [ReviewItem(r["id"], r["fil_sha256"], r["dokument"] or "", r["side"], r["kind"], r["masked"] or "",
                               r["konfidens"], r["status"], r["hjemmel"] or "") for r in conn.execute(q).mappings()]

    def decide(self, item_id: str, status: str, hjemmel: str | None = None) -> bool:
        """A withheld item keeps the hjemmel it is exempt by (PERSONAL_DATA_HJEMMEL unless the reviewer gave one);
        the public page shows it."""
        if status not in REVIEW_STATES:
            raise ValueError(status)
        if status == "halde_tilbake":
            hjemmel = (hjemmel or "").strip() or PERSONAL_DATA_HJEMMEL
        else:
            hjemmel = None
        g = self.t("gransking")
        with self.engine.begin() as conn:
            done = conn.execute(g.update().where(g.c.id == item_id).values(status=status, avgjort=_now(),
                                                                           hjemmel=hjemmel))
            return done.rowcount == 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "grunndata_ocr.sqlite"
