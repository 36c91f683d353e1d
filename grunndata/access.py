"""Who may see restricted data: organisations, named users, licences (role, valid from/to), API keys, access log.

Kept in the store's database (a SQLite file beside the GeoPackages, or schema `grunndata_tilgang` in PostGIS), so
every worker on every machine sees the same users and the same session key. Passwords are hashed with scrypt
(stdlib), API keys are random 32-byte tokens stored as SHA-256 (they carry enough entropy that a slow hash adds
nothing); neither is ever stored or logged in clear text. Login sessions are rows here too (only the SHA-256 of the
random session id is stored), so a logout or a revocation ends them at once on every worker; so is the login
throttle's state (failures per user name and per client address), so every worker counts the same failures.
The SQLite file is private to its owner (mode 0600) and in WAL mode (grunndata/private_db.py); access-log rows
are written from a queue by a background thread, so a busy database never slows or fails a request.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, cached_property

from sqlalchemy import (
    Column,
    Date,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    update,
)

from .errors import GrunndataError
from .private_db import OnPrivateDb, PrivateDb
from .registry import ROLES
from .settings import Settings

SCHEMA = "grunndata_tilgang"
KEY_PREFIX = "gd_"
LOG = logging.getLogger("grunndata.tilgang")
# Security events (throttling, lock-outs, log rows that could not be written) are warnings and must be seen even
# though pygeoapi sets the root logger to its configured level (ERROR in our configs) when it is imported.
if LOG.level == logging.NOTSET:
    LOG.setLevel(logging.WARNING)


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
    # a login session: `id` is the SHA-256 of the random session id, which only the (signed) cookie carries
    Table("okt", md, Column("id", String, primary_key=True), Column("brukar_id", Integer, fk("brukar.id")),
          Column("oppretta", String), Column("utloper", String), Column("tilbakekalla", String))
    # the login throttle: one row per bucket ("brukar:<name>" or "adresse:<ip>"); times are epoch seconds
    Table("innlogging", md, Column("nokkel", String, primary_key=True), Column("feil", Integer, nullable=False),
          Column("siste", Float, nullable=False), Column("sperra_til", Float))
    return md


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@cache
def _dummy_hash() -> str:
    """A hash no password matches: checked instead when the user is unknown or has no password, so the answer takes
    as long as for a known user with a wrong password (timing must not tell which user names exist)."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Always runs scrypt once, whether or not `stored` is a usable hash."""
    usable = bool(stored) and stored.startswith("scrypt$") and stored.count("$") == 5
    _, n, r, p, salt, digest = (stored if usable else _dummy_hash()).split("$")
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got, base64.b64decode(digest)) and usable


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
class Throttle:
    """Login throttling, per bucket (a user name, a client address). The first `free` failures cost nothing; from
    then on the next try must wait `base` seconds, doubling per failure (1, 2, 4, 8, 16 s); at `lock_after` failures
    the bucket is locked for `lock_seconds`, and each failure after that locks it again. A success clears its user's
    bucket; failures are forgotten `forget` seconds after the last one."""

    free: int = 5
    base: float = 1.0
    lock_after: int = 10
    lock_seconds: float = 15 * 60
    forget: float = 3600

    def wait(self, failures: int, last: float, locked_until: float | None, now: float) -> float:
        if locked_until and locked_until > now:
            return locked_until - now
        if failures < self.free or now - last > self.forget:
            return 0.0
        return max(0.0, last + self.base * 2 ** (failures - self.free) - now)


# Per user name: a person's typos are few, a guesser's many. Per client address: many people may share one (an
# office behind NAT, a proxy), so that bucket is against one address spraying guesses over many user names, and
# gives more room before it slows down and locks.
USER_THROTTLE = Throttle()
ADDRESS_THROTTLE = Throttle(free=10, lock_after=30)


def user_bucket(name: str) -> str:
    return f"brukar:{name.strip().lower()[:200]}"


def address_bucket(address: str) -> str:
    return f"adresse:{address}"


@dataclass(frozen=True)
class ThrottleState:
    wait: float  # seconds before the next try is heard; 0: go ahead
    failures: int  # the most failures of the buckets asked about
    locked: bool  # a lock-out (not just a back-off delay)


@dataclass(frozen=True)
class Licence:
    rolle: str
    gyldig_fra: date
    gyldig_til: date | None

    def valid(self, on: date) -> bool:
        return self.gyldig_fra <= on and (self.gyldig_til is None or on <= self.gyldig_til)


class AccessStore(OnPrivateDb):
    def __init__(self, settings: Settings, user_throttle: Throttle = USER_THROTTLE,
                 address_throttle: Throttle = ADDRESS_THROTTLE) -> None:
        self.settings = settings
        self.throttles = {"brukar": user_throttle, "adresse": address_throttle}
        self._log_writer = _LogWriter(self)

    @cached_property
    def db(self) -> PrivateDb:
        # its own database role (GRUNNDATA_DATABASE_URL_ACCESS): owns this schema, reads no dataset; the schema is
        # made by `grunndata db roles` (a single-role setup makes it here, as the writer)
        return PrivateDb(self.settings, SCHEMA, "grunndata_tilgang.sqlite", _tables, role="access")

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
        """A new password also ends the user's sessions."""
        u, o = self.t("brukar"), self.t("okt")
        with self.engine.begin() as conn:
            conn.execute(update(u).where(u.c.brukarnamn == brukarnamn).values(passord=hash_password(password)))
            ids = select(u.c.id).where(u.c.brukarnamn == brukarnamn).scalar_subquery()
            conn.execute(update(o).where(o.c.brukar_id == ids, o.c.tilbakekalla.is_(None)).values(tilbakekalla=_now()))

    def revoke(self, brukarnamn: str) -> None:
        user = self.user(brukarnamn)
        if user is None:
            raise GrunndataError(f"no user '{brukarnamn}'", hint="grunndata users list")
        u, k, o = self.t("brukar"), self.t("apinokkel"), self.t("okt")
        with self.engine.begin() as conn:
            conn.execute(update(u).where(u.c.id == user.id).values(tilbakekalla=_now()))
            for table in (k, o):  # every API key and every login session, at once
                conn.execute(update(table).where(table.c.brukar_id == user.id, table.c.tilbakekalla.is_(None))
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
        """The user when the password is theirs. Unknown users and users without a password cost one scrypt too."""
        u = self.t("brukar")
        with self.engine.connect() as conn:
            stored = conn.execute(select(u.c.passord).where(func.lower(u.c.brukarnamn) == brukarnamn.lower())
                                  ).scalar()
        return self.user(brukarnamn) if verify_password(password, stored) else None

    def by_key(self, key: str) -> User | None:
        found = self.key_owner(key)
        return found[0] if found else None

    def key_owner(self, key: str) -> tuple[User, int] | None:
        """The user holding this (unrevoked) API key and the key's row id: what the access log names it by."""
        k, u = self.t("apinokkel"), self.t("brukar")
        with self.engine.connect() as conn:
            row = conn.execute(select(u.c.brukarnamn, k.c.id).join(k, k.c.brukar_id == u.c.id)
                               .where(k.c.hash == key_hash(key), k.c.tilbakekalla.is_(None))).first()
        user = self.user(row[0]) if row else None
        return (user, row[1]) if user else None

    # -- sessions ---------------------------------------------------------------------------------------------
    def new_session(self, user: User, seconds: float) -> str:
        """A session row for a login; returns the random session id (stored here only as its SHA-256)."""
        sid = secrets.token_urlsafe(32)
        o, now = self.t("okt"), datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(delete(o).where(o.c.utloper < _iso(now - timedelta(days=7))))  # long over: forget
            conn.execute(insert(o).values(id=key_hash(sid), brukar_id=user.id, oppretta=_iso(now),
                                          utloper=_iso(now + timedelta(seconds=seconds))))
        return sid

    def session_user(self, sid: str) -> User | None:
        """The user of a live session: not ended (logout, revocation, key rotation) and not expired."""
        o, u = self.t("okt"), self.t("brukar")
        with self.engine.connect() as conn:
            name = conn.execute(select(u.c.brukarnamn).join(o, o.c.brukar_id == u.c.id).where(
                o.c.id == key_hash(sid), o.c.tilbakekalla.is_(None), o.c.utloper > _now())).scalar()
        return self.user(name) if name else None

    def end_session(self, sid: str) -> None:
        o = self.t("okt")
        with self.engine.begin() as conn:
            conn.execute(update(o).where(o.c.id == key_hash(sid), o.c.tilbakekalla.is_(None))
                         .values(tilbakekalla=_now()))

    def end_sessions(self) -> int:
        """End every live session (all users); returns how many."""
        o = self.t("okt")
        with self.engine.begin() as conn:
            return conn.execute(update(o).where(o.c.tilbakekalla.is_(None), o.c.utloper > _now())
                                .values(tilbakekalla=_now())).rowcount

    # -- login throttle --------------------------------------------------------------------------------------
    def _policy(self, bucket: str) -> Throttle:
        return self.throttles.get(bucket.partition(":")[0], USER_THROTTLE)

    def login_wait(self, buckets: list[str], now: float | None = None) -> ThrottleState:
        """How long the buckets (user name, client address) must wait before a password is checked again."""
        now = time.time() if now is None else now
        t = self.t("innlogging")
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.nokkel, t.c.feil, t.c.siste, t.c.sperra_til)
                                .where(t.c.nokkel.in_(buckets))).all()
        return self._throttle_state(rows, now)

    def login_failed(self, buckets: list[str], now: float | None = None) -> ThrottleState:
        """Count a failure in each bucket (atomically, whichever worker saw it); the state after it."""
        now = time.time() if now is None else now
        t = self.t("innlogging")
        with self.engine.begin() as conn:
            for bucket in buckets:
                p = self._policy(bucket)
                failures = case((t.c.siste < now - p.forget, 1), else_=t.c.feil + 1)
                conn.execute(self._upsert(t).values(nokkel=bucket, feil=1, siste=now, sperra_til=None)
                             .on_conflict_do_update(index_elements=[t.c.nokkel], set_={
                                 "feil": failures, "siste": now,
                                 "sperra_til": case((failures >= p.lock_after, now + p.lock_seconds),
                                                    else_=t.c.sperra_til)}))
            forget = max(p.forget for p in self.throttles.values())
            conn.execute(delete(t).where(t.c.siste < now - forget, t.c.sperra_til.is_(None) | (t.c.sperra_til < now)))
            rows = conn.execute(select(t.c.nokkel, t.c.feil, t.c.siste, t.c.sperra_til)
                                .where(t.c.nokkel.in_(buckets))).all()
        return self._throttle_state(rows, now)

    def login_succeeded(self, bucket: str) -> None:
        t = self.t("innlogging")
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.nokkel == bucket))

    def unlock(self, bucket: str) -> bool:
        """Lift a lock-out (`grunndata users unlock`); True when there was something to lift."""
        t = self.t("innlogging")
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.nokkel == bucket)).rowcount > 0

    def _throttle_state(self, rows, now: float) -> ThrottleState:
        """Rows (bucket, failures, last, locked until) -> the strictest state among them."""
        live = [(self._policy(b), n, last, until) for b, n, last, until in rows
                if now - last <= self._policy(b).forget or (until is not None and until > now)]
        return ThrottleState(max((p.wait(n, last, until, now) for p, n, last, until in live), default=0.0),
                             max((n for _, n, _, _ in live), default=0),
                             any(until is not None and until > now for *_, until in live))

    def roles_on(self, user: User, on: date | None = None) -> set[str]:
        on = on or date.today()
        return {lic.rolle for lic in self.licences(user) if lic.valid(on)} if user.active else set()

    # -- settings and log ------------------------------------------------------------------------------------
    def session_key(self) -> str:
        """The key that signs login cookies, made once and shared through the store by every worker (which read it
        on each use, so a rotation applies everywhere at once)."""
        s = self.t("innstilling")
        with self.engine.connect() as conn:
            found = conn.execute(select(s.c.verdi).where(s.c.namn == "session_key")).scalar()
        if found:
            return found
        with self.engine.begin() as conn:  # the first use: workers may race here, the first key wins
            conn.execute(self._upsert(s).values(namn="session_key", verdi=secrets.token_urlsafe(48))
                         .on_conflict_do_nothing(index_elements=[s.c.namn]))
            return conn.execute(select(s.c.verdi).where(s.c.namn == "session_key")).scalar()

    def rotate_session_key(self) -> int:
        """A new cookie signing key (`grunndata users rotate-session-key`): every cookie signed with the old one stops
        working at once, and every session is ended as well. Returns how many sessions were ended."""
        s = self.t("innstilling")
        key = secrets.token_urlsafe(48)
        with self.engine.begin() as conn:
            conn.execute(self._upsert(s).values(namn="session_key", verdi=key)
                         .on_conflict_do_update(index_elements=[s.c.namn], set_={"verdi": key}))
        return self.end_sessions()

    def log(self, brukar: str | None, metode: str, rute: str, datasett: str | None, bbox: str | None,
            status: int) -> None:
        """Queue an access-log row; a background thread writes it (the caller never waits, nor fails, on it).
        `rute` must already be scrubbed of credentials (map_viewer.security.scrub_query)."""
        self._log_writer.put({"tid": _now(), "brukar": brukar, "metode": metode, "rute": rute, "datasett": datasett,
                              "bbox": bbox, "status": status})

    def flush_log(self, timeout: float = 10) -> bool:
        """Wait until the queued log rows are written (tests, shutdown); False on timeout."""
        return self._log_writer.flush(timeout)

    def access_log(self, limit: int = 100) -> list[dict]:
        self.flush_log()
        t = self.t("tilgangslogg")
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id.desc()).limit(limit))]

    def clear(self) -> None:
        """Tests only: forget every user."""
        with self.engine.begin() as conn:
            for name in ("okt", "innlogging", "apinokkel", "lisens", "brukar"):
                conn.execute(delete(self.t(name)))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _now() -> str:
    return _iso(datetime.now(UTC))


class _LogWriter:
    """Writes access-log rows from a queue in one background thread per process, in batches, so a request never
    waits on the log and a busy database never fails one. A failed write is retried, then reported in the Python
    log with the rows it could not store; it is never raised to anyone. The queue is bounded: if the database is
    gone for long, rows go to the Python log instead of filling the memory."""

    BATCH = 500
    TRIES = 5

    def __init__(self, store: AccessStore) -> None:
        self.store = store
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=20_000)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def put(self, row: dict) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="grunndata-tilgangslogg", daemon=True)
                    self.thread.start()
                    atexit.register(self.flush)
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            LOG.error("tilgangslogg: queue full, row not stored: %s", row)

    def _run(self) -> None:
        while True:
            rows = [self.queue.get()]
            while len(rows) < self.BATCH:
                try:
                    rows.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(rows)
            finally:
                for _ in rows:
                    self.queue.task_done()

    def _write(self, rows: list[dict]) -> None:
        for attempt in range(1, self.TRIES + 1):
            try:
                with self.store.engine.begin() as conn:
                    conn.execute(insert(self.store.t("tilgangslogg")), rows)
                return
            except Exception as exc:  # whatever it is, it is reported here and never reaches a request
                LOG.warning("tilgangslogg: writing %d rows failed (try %d of %d): %s", len(rows), attempt,
                            self.TRIES, exc)
                time.sleep(0.1 * 2 ** attempt)
        LOG.error("tilgangslogg: %d rows not stored: %s", len(rows), rows)

    def flush(self, timeout: float = 10) -> bool:
        with self.queue.all_tasks_done:
            return self.queue.all_tasks_done.wait_for(lambda: not self.queue.unfinished_tasks, timeout)

