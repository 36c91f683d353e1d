"""Who may see restricted data: organisations, named users, licences (role, valid from/to), API keys, access log.

Kept in the store's database (a SQLite file beside the GeoPackages, or schema `grunndata_tilgang` in PostGIS), so
every worker on every machine sees the same users and the same session key. Passwords are hashed with scrypt
(stdlib), API keys are random 32-byte tokens stored as SHA-256 (they carry enough entropy that a slow hash adds
nothing); neither is ever stored or logged in clear text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

from .errors import GrunndataError
from .registry import ROLES
from .settings import Settings

SCHEMA = "grunndata_tilgang"
KEY_PREFIX = "gd_"


def _tables(schema: str | None) -> MetaData:
    md = MetaData(schema=schema)

    def fk(target: str) -> ForeignKey:
        return ForeignKey(f"{schema}.{target}" if schema else target)

    Table("organisasjon", md, Column("id", Integer, primary_key=True), Column("namn", String, unique=True,
                                                                              nullable=False),
          Column("orgnr", String))
    Table("brukar", md, Column("id", Integer, primary_key=True),
          Column("brukarnamn", String, unique=True, nullable=False), Column("namn", String), Column("epost", String),
          Column("organisasjon_id", Integer, fk("organisasjon.id")),
          Column("passord", String), Column("oppretta", String), Column("tilbakekalla", String))
    Table("lisens", md, Column("id", Integer, primary_key=True),
          Column("brukar_id", Integer, fk("brukar.id")),
          Column("rolle", String, nullable=False), Column("gyldig_fra", Date, nullable=False),
          Column("gyldig_til", Date))
    Table("apinokkel", md, Column("id", Integer, primary_key=True),
          Column("brukar_id", Integer, fk("brukar.id")),
          Column("prefiks", String), Column("hash", String, unique=True), Column("oppretta", String),
          Column("tilbakekalla", String))
    Table("tilgangslogg", md, Column("id", Integer, primary_key=True), Column("tid", String),
          Column("brukar", String), Column("metode", String), Column("rute", Text), Column("datasett", String),
          Column("bbox", String), Column("status", Integer))
    Table("innstilling", md, Column("namn", String, primary_key=True), Column("verdi", Text))
    return md


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got, base64.b64decode(digest))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    brukarnamn: str
    namn: str | None
    epost: str | None
    organisasjon: str | None
    tilbakekalla: str | None

    @property
    def active(self) -> bool:
        return self.tilbakekalla is None


@dataclass(frozen=True)
class Licence:
    rolle: str
    gyldig_fra: date
    gyldig_til: date | None

    def valid(self, on: date) -> bool:
        return self.gyldig_fra <= on and (self.gyldig_til is None or on <= self.gyldig_til)


class AccessStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schema = SCHEMA if settings.store_kind == "postgis" else None

    @cached_property
    def engine(self) -> Engine:
        if self.schema:
            url = self.settings.database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
            engine = create_engine(url, pool_pre_ping=True)
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        else:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{self.settings.data_dir / 'grunndata_tilgang.sqlite'}")
        self.md = _tables(self.schema)
        self.md.create_all(engine)
        return engine

    def t(self, name: str) -> Table:
        self.engine  # noqa: B018 - creates the tables on first use
        return self.md.tables[f"{self.schema}.{name}" if self.schema else name]

    # -- users -----------------------------------------------------------------------------------------
    def organisation(self, namn: str, orgnr: str | None = None) -> int:
        org = self.t("organisasjon")
        with self.engine.begin() as conn:
            found = conn.execute(select(org.c.id).where(org.c.namn == namn)).scalar()
            if found:
                return found
            return conn.execute(insert(org).values(namn=namn, orgnr=orgnr)).inserted_primary_key[0]

    def add_user(self, brukarnamn: str, roles: list[str], organisasjon: str, namn: str | None = None,
                 epost: str | None = None, password: str | None = None, gyldig_fra: date | None = None,
                 gyldig_til: date | None = None) -> tuple[User, str]:
        """Create a user with one licence per role and a first API key (returned once, in clear)."""
        bad = set(roles) - ROLES
        if bad or not roles:
            raise GrunndataError(f"unknown role(s) {sorted(bad) or roles}", hint=f"roles: {', '.join(sorted(ROLES))}")
        if self.user(brukarnamn) is not None:
            raise GrunndataError(f"user '{brukarnamn}' exists", hint="grunndata users revoke, or another name")
        org_id = self.organisation(organisasjon)
        u, lic = self.t("brukar"), self.t("lisens")
        with self.engine.begin() as conn:
            uid = conn.execute(insert(u).values(
                brukarnamn=brukarnamn, namn=namn, epost=epost, organisasjon_id=org_id,
                passord=hash_password(password) if password else None, oppretta=_now())).inserted_primary_key[0]
            for role in roles:
                conn.execute(insert(lic).values(brukar_id=uid, rolle=role, gyldig_fra=gyldig_fra or date.today(),
                                                gyldig_til=gyldig_til))
        return self.user(brukarnamn), self.new_key(brukarnamn)

    def new_key(self, brukarnamn: str) -> str:
        user = self.user(brukarnamn)
        if user is None:
            raise GrunndataError(f"no user '{brukarnamn}'")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(self.t("apinokkel")).values(brukar_id=user.id, prefiks=key[:8], hash=key_hash(key),
                                                            oppretta=_now()))
        return key

    def set_password(self, brukarnamn: str, password: str) -> None:
        u = self.t("brukar")
        with self.engine.begin() as conn:
            conn.execute(update(u).where(u.c.brukarnamn == brukarnamn).values(passord=hash_password(password)))

    def revoke(self, brukarnamn: str) -> None:
        user = self.user(brukarnamn)
        if user is None:
            raise GrunndataError(f"no user '{brukarnamn}'", hint="grunndata users list")
        u, k = self.t("brukar"), self.t("apinokkel")
        with self.engine.begin() as conn:
            conn.execute(update(u).where(u.c.id == user.id).values(tilbakekalla=_now()))
            conn.execute(update(k).where(k.c.brukar_id == user.id, k.c.tilbakekalla.is_(None))
                         .values(tilbakekalla=_now()))

    def user(self, brukarnamn: str) -> User | None:
        u, org = self.t("brukar"), self.t("organisasjon")
        with self.engine.connect() as conn:
            row = conn.execute(select(u.c.id, u.c.brukarnamn, u.c.namn, u.c.epost, org.c.namn, u.c.tilbakekalla)
                               .join(org, org.c.id == u.c.organisasjon_id, isouter=True)
                               .where(func.lower(u.c.brukarnamn) == brukarnamn.lower())).first()
        return User(*row) if row else None

    def users(self) -> list[tuple[User, list[Licence]]]:
        u = self.t("brukar")
        with self.engine.connect() as conn:
            names = [r[0] for r in conn.execute(select(u.c.brukarnamn).order_by(u.c.brukarnamn))]
        return [(user, self.licences(user)) for user in filter(None, map(self.user, names))]

    def licences(self, user: User) -> list[Licence]:
        lic = self.t("lisens")
        with self.engine.connect() as conn:
            rows = conn.execute(select(lic.c.rolle, lic.c.gyldig_fra, lic.c.gyldig_til)
                                .where(lic.c.brukar_id == user.id).order_by(lic.c.rolle)).all()
        return [Licence(*r) for r in rows]

    def set_licence_end(self, brukarnamn: str, gyldig_til: date | None) -> None:
        user = self.user(brukarnamn)
        lic = self.t("lisens")
        with self.engine.begin() as conn:
            conn.execute(update(lic).where(lic.c.brukar_id == user.id).values(gyldig_til=gyldig_til))

    # -- authentication ------------------------------------------------------------------------------------
    def by_password(self, brukarnamn: str, password: str) -> User | None:
        u = self.t("brukar")
        with self.engine.connect() as conn:
            stored = conn.execute(select(u.c.passord).where(func.lower(u.c.brukarnamn) == brukarnamn.lower())
                                  ).scalar()
        return self.user(brukarnamn) if verify_password(password, stored) else None

    def by_key(self, key: str) -> User | None:
        k, u = self.t("apinokkel"), self.t("brukar")
        with self.engine.connect() as conn:
            name = conn.execute(select(u.c.brukarnamn).join(k, k.c.brukar_id == u.c.id)
                                .where(k.c.hash == key_hash(key), k.c.tilbakekalla.is_(None))).scalar()
        return self.user(name) if name else None

    def roles_on(self, user: User, on: date | None = None) -> set[str]:
        on = on or date.today()
        return {lic.rolle for lic in self.licences(user) if lic.valid(on)} if user.active else set()

    # -- settings and log ------------------------------------------------------------------------------------
    def session_key(self) -> str:
        """The key that signs login cookies, made once and shared through the store by every worker."""
        s = self.t("innstilling")
        with self.engine.begin() as conn:
            found = conn.execute(select(s.c.verdi).where(s.c.namn == "session_key")).scalar()
            if found:
                return found
            key = secrets.token_urlsafe(48)
            conn.execute(insert(s).values(namn="session_key", verdi=key))
            return key

    def log(self, brukar: str | None, metode: str, rute: str, datasett: str | None, bbox: str | None,
            status: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(self.t("tilgangslogg")).values(tid=_now(), brukar=brukar, metode=metode, rute=rute,
                                                               datasett=datasett, bbox=bbox, status=status))

    def access_log(self, limit: int = 100) -> list[dict]:
        t = self.t("tilgangslogg")
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id.desc()).limit(limit))]

    def clear(self) -> None:
        """Tests only: forget every user."""
        with self.engine.begin() as conn:
            for name in ("apinokkel", "lisens", "brukar"):
                conn.execute(delete(self.t(name)))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()

