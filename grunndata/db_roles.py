"""Least privilege in PostGIS: every path into the database connects as a role that can read only what it serves.

| role (default name)    | setting                           | may                                                  |
|------------------------|-----------------------------------|------------------------------------------------------|
| writer (the owner)     | GRUNNDATA_DATABASE_URL            | own every dataset schema and grunndata_meta; builds  |
| `grunndata_public`     | GRUNNDATA_DATABASE_URL_PUBLIC     | read the OPEN datasets' schemas and grunndata_meta   |
| `grunndata_restricted` | GRUNNDATA_DATABASE_URL_RESTRICTED | read the RESTRICTED datasets' schemas, grunndata_meta |
| `grunndata_access`     | GRUNNDATA_DATABASE_URL_ACCESS     | own grunndata_tilgang (users, licences, keys, log)   |

Neither serving role can read grunndata_tilgang; the access role can read no dataset schema. The restricted role does
not read open schemas either: the restricted path serves restricted datasets only (an open layer added to
restricted.map would fail visibly, not silently widen the role). Publishing grants (store/postgis.py) follow the
dataset's access level; `setup` (the CLI's `grunndata db roles`) creates the roles and applies the grants to what
is already there. Role names are `<GRUNNDATA_DATABASE_ROLE_PREFIX>_<kind>` (roles belong to the cluster, not to a
database). Every setting may be given as `…_FILE`, a file holding the URL.

Passwords reach the server as SCRAM-SHA-256 verifiers computed here, never in clear (so not in its statement log),
and are printed once or written to a new 0600 file on request; nothing else stores them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

from .errors import GrunndataError
from .registry import Registry
from .settings import DATABASE_URL_VARS, Settings
from .store.base import META

KINDS = ("public", "restricted", "access")
ACCESS_SCHEMA = "grunndata_tilgang"  # = grunndata.access.SCHEMA (not imported: access.py pulls in SQLAlchemy tables)
_WHAT = {"public": "the public pages, /wms and /ogc", "restricted": "/wms-restricted, /ogc-restricted, /entreprenor",
         "access": "authentication (users, licences, API keys, access log)"}


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a scram-sha-256 password (RFC 5802/7677), so the clear text never leaves here."""
    if not password or not password.isascii() or not password.isprintable():
        raise GrunndataError("database passwords must be printable ASCII", hint="or leave them to be generated")
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def role_url(url: str, user: str, password: str | None = None) -> str:
    """`url` with its user (and password) replaced."""
    u = urlparse(url.replace("postgres://", "postgresql://", 1))
    host = u.hostname or ""
    host = f"[{host}]" if ":" in host else host
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunparse(u._replace(netloc=f"{auth}@{host}" + (f":{u.port}" if u.port else "")))


def role_env(writer_url: str, names: dict[str, str], passwords: dict[str, str] | None = None) -> dict[str, str]:
    """The four URL settings for a writer URL and the role names (passwords optional)."""
    out = {DATABASE_URL_VARS["writer"]: writer_url}
    for kind in KINDS:
        out[DATABASE_URL_VARS[kind]] = role_url(writer_url, names[kind], (passwords or {}).get(kind))
    return out


def _check_names(names: dict[str, str]) -> None:
    for name in names.values():
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise GrunndataError(f"database role name '{name}' is not a plain lower-case identifier",
                                 hint="GRUNNDATA_DATABASE_ROLE_PREFIX: letters, digits, _")


def create_roles(cur, names: dict[str, str], login: bool = False) -> list[str]:
    """The three roles, NOLOGIN (or LOGIN without password, for a trust-only test cluster) when missing; returns
    those created. Refuses roles that exist with more power than a reader should have."""
    from psycopg2 import sql

    _check_names(names)
    created = []
    for name in names.values():
        cur.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication "
                    "FROM pg_roles WHERE rolname = %s", (name,))
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(sql.Identifier(name)))
            created.append(name)
        elif row[0]:
            raise GrunndataError(f"role '{name}' exists with SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS or "
                                 "REPLICATION: not a least-privilege reader", hint=f"ALTER ROLE {name} NOSUPERUSER …")
    return created


def prepare_database(cur, names: dict[str, str], registry: Registry | None = None) -> list[str]:
    """Grants in the current database (run as the writer/owner); returns the dataset schemas granted.

    CONNECT for all three roles; grunndata_tilgang owned by the access role (created, or taken over with its tables
    from a single-role setup) and closed to everyone else; grunndata_meta readable by both readers; each dataset
    schema that exists readable by exactly the reader of its access level.
    """
    from psycopg2 import sql

    from .store.postgis import ensure_meta, grant_read

    ident = sql.Identifier
    cur.execute("SELECT current_user, current_database(), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
    me, db, superuser = cur.fetchone()
    for name in names.values():
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(ident(db), ident(name)))
    access = names["access"]
    if not superuser:  # to create a schema for, or hand tables to, a role one must be a member of it
        cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (access,))
        if not cur.fetchone()[0]:
            cur.execute(sql.SQL("GRANT {} TO {}").format(ident(access), ident(me)))
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (ACCESS_SCHEMA,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident(ACCESS_SCHEMA), ident(access)))
    else:
        cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(ident(ACCESS_SCHEMA), ident(access)))
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')", (ACCESS_SCHEMA,))
        for (table,) in cur.fetchall():  # their serial sequences follow the table
            cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(ident(ACCESS_SCHEMA, table), ident(access)))
    others = sql.SQL(", ").join([sql.SQL("PUBLIC"), ident(names["public"]), ident(names["restricted"])])
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(ident(ACCESS_SCHEMA), others))
    cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(ident(ACCESS_SCHEMA), others))

    ensure_meta(cur, names)  # grunndata_meta, readable by both readers
    granted = []
    for ds in (registry.datasets.values() if registry else ()):
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (ds.id,))
        if cur.fetchone() is None:
            continue  # not built yet: its first publish grants
        everyone = sql.SQL(", ").join(ident(n) for n in names.values())
        cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(ident(ds.id), everyone))
        cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(ident(ds.id), everyone))
        grant_read(cur, ds.id, [names["public" if ds.is_open else "restricted"]])
        granted.append(ds.id)
    return granted


def set_login(cur, role: str, password: str) -> None:
    from psycopg2 import sql

    cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                   sql.Literal(scram_verifier(password))))


def read_password_file(path: Path, names: dict[str, str]) -> dict[str, str]:
    """Lines KIND=PASSWORD (kind public/restricted/access, or the full role name); # comments."""
    by_name = {v: k for k, v in names.items()}
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, password = line.partition("=")
        kind = by_name.get(key.strip(), key.strip())
        if not sep or kind not in KINDS or not password:
            raise GrunndataError(f"{path}:{n}: expected KIND=PASSWORD with KIND one of {', '.join(KINDS)}")
        out[kind] = password
    return out


def setup(writer_url: str, names: dict[str, str], registry: Registry, passwords: dict[str, str] | None = None,
          grants_only: bool = False) -> tuple[dict[str, str], list[str]]:
    """Roles (NOLOGIN, then LOGIN with the given or generated passwords unless `grants_only`) and every grant, in
    one transaction as the writer. Returns (kind -> URL, with the password when one was set; schemas granted)."""
    import psycopg2

    passwords = dict(passwords or {})
    if not grants_only:
        for kind in KINDS:
            passwords.setdefault(kind, secrets.token_urlsafe(24))
            scram_verifier(passwords[kind])  # validate before anything changes
    try:
        conn = psycopg2.connect(writer_url)
    except psycopg2.OperationalError as exc:
        from .store.postgis import _redact

        raise GrunndataError(f"cannot reach PostGIS at {_redact(writer_url)}: {str(exc).strip().splitlines()[0]}",
                             hint="run with the writer/owner GRUNNDATA_DATABASE_URL") from exc
    try:
        with conn, conn.cursor() as cur:
            create_roles(cur, names)
            granted = prepare_database(cur, names, registry)
            if not grants_only:
                for kind in KINDS:
                    set_login(cur, names[kind], passwords[kind])
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise GrunndataError(f"not allowed: {str(exc).strip().splitlines()[0]}",
                             hint="the writer needs CREATEROLE (or run the SQL in README 'Deployment: database "
                                  "roles' as a superuser)") from None
    finally:
        conn.close()
    urls = {kind: role_url(writer_url, names[kind], None if grants_only else passwords[kind]) for kind in KINDS}
    return urls, granted


def create_secret_file(path: Path):
    """A new file only its owner can read, open for writing (O_EXCL: never over an existing file or through a
    planted symlink). Made before anything changes, so a name that is taken stops the command in time."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise GrunndataError(f"{path} exists", hint="give a new file name, or remove the old file first") from None
    os.fchmod(fd, 0o600)  # whatever the umask
    return os.fdopen(fd, "w", encoding="utf-8")


def serving_warnings(settings: Settings, registry: Registry) -> list[tuple[int, str]]:
    """(log level, message) for every serving path that runs with more than it needs: a role without its own URL
    (single-role setup: it connects as the writer, which can read everything), or a configured URL whose role can
    read what it must not. Checked at app start; an unreachable database is left to /healthz."""
    if settings.store_kind != "postgis":
        return []
    import psycopg2

    from .store.postgis import _redact

    out: list[tuple[int, str]] = []
    single = [k for k in KINDS if not settings.role_url_set(k)]
    for kind in single:
        out.append((logging.WARNING, f"{DATABASE_URL_VARS[kind]} is not set: {_WHAT[kind]} connect(s) as the WRITER "
                                     "role of GRUNNDATA_DATABASE_URL, which can read every dataset and the access "
                                     "tables. Run `grunndata db roles` and set the URLs it prints "
                                     "(README: Deployment: database roles)."))
    restricted = [ds.id for ds in registry.datasets.values() if not ds.is_open]
    datasets = list(registry.datasets)
    forbidden = {"public": [*restricted, ACCESS_SCHEMA], "restricted": [ACCESS_SCHEMA], "access": [*datasets, META]}
    for kind in KINDS:
        if kind in single:
            continue
        url = settings.database_url_for(kind)
        try:
            conn = psycopg2.connect(url, connect_timeout=5)
        except psycopg2.Error:
            continue
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY(%s) "
                    "AND has_schema_privilege(n.oid, 'USAGE') AND EXISTS (SELECT 1 FROM pg_class c WHERE "
                    "c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm') "
                    "AND has_table_privilege(c.oid, 'SELECT')) ORDER BY 1", (forbidden[kind],))
                readable = [r[0] for r in cur.fetchall()]
        except psycopg2.Error:
            continue
        finally:
            conn.close()
        if readable:
            out.append((logging.ERROR, f"{DATABASE_URL_VARS[kind]} ({_redact(url)}) can read {', '.join(readable)}: "
                                       f"{_WHAT[kind]} must not. It should name the role "
                                       f"{settings.database_roles[kind]} (grunndata db roles)."))
    return out
