"""A CQL2 filter (a pygeofilter AST) as an SQL condition with bound parameters, for both stores.

Only the table's own columns may be named (an allow-list: anything else is InvalidQuery, a 400), identifiers are
quoted from that list, and every value is a bound parameter: nothing of the caller's text is pasted into SQL.
Geometry literals arrive in the table's storage CRS (pygeoapi transforms them from `filter-crs`). GeoPackage has no
SpatiaLite here (see gpkg.py), so its spatial predicates call a Shapely function registered on the connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from pygeofilter import ast, values

from ..errors import InvalidQuery

_COMPARE = {ast.ComparisonOp.EQ: "=", ast.ComparisonOp.NE: "<>", ast.ComparisonOp.LT: "<",
            ast.ComparisonOp.LE: "<=", ast.ComparisonOp.GT: ">", ast.ComparisonOp.GE: ">="}
SPATIAL_OPS = {op.value for op in ast.SpatialComparisonOp}
GEOMETRY_NAMES = ("geometry", "geom")  # what clients call the geometry (pygeoapi's queryables say "geometry")


def spatial_sqlite(op: str, blob: bytes | None, wkb: bytes) -> int:
    """The SQLite function `cql_spatial(op, gpkg_geometry, wkb)` (registered by the GeoPackage store)."""
    from .gpkg import gpkg_to_wkb

    raw = gpkg_to_wkb(blob)
    if raw is None:
        return 0
    return int(getattr(shapely, op.lower())(shapely.from_wkb(raw), shapely.from_wkb(wkb)))


@dataclass
class _Sql:
    dialect: str  # "sqlite" | "postgis"
    columns: dict[str, str]  # column -> JSON type
    geom: str
    srid: int
    args: list = field(default_factory=list)

    @property
    def mark(self) -> str:
        return "?" if self.dialect == "sqlite" else "%s"

    def bind(self, value: Any) -> str:
        self.args.append(value)
        return self.mark


def to_sql(node: Any, dialect: str, columns: dict[str, str], geom: str, srid: int = 0) -> tuple[str, list]:
    """(condition, args) for a WHERE clause. Raises InvalidQuery for unknown properties or unsupported parts."""
    state = _Sql(dialect, columns, geom, srid)
    return _cond(node, state), state.args


def attributes(node: Any) -> set[str]:
    """Every property a filter names."""
    found: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, ast.Attribute):
            found.add(n.name)
        elif isinstance(n, ast.Node):
            for sub in n.get_sub_nodes():
                walk(sub)
        elif isinstance(n, list | tuple):
            for sub in n:
                walk(sub)
    walk(node)
    return found


def _cond(n: Any, s: _Sql) -> str:
    if isinstance(n, ast.Include):
        return "1=0" if n.not_ else "1=1"
    if isinstance(n, ast.Not):
        return f"(NOT {_cond(n.sub_node, s)})"
    if isinstance(n, ast.Combination):
        return f"({_cond(n.lhs, s)} {n.op.value} {_cond(n.rhs, s)})"
    if isinstance(n, ast.Comparison):
        kind = _kind(n.lhs, s) or _kind(n.rhs, s)
        lhs, rhs = _expr(n.lhs, s, kind), _expr(n.rhs, s, kind)
        return f"({lhs} {_COMPARE[n.op]} {rhs})"
    if isinstance(n, ast.Between):
        kind = _kind(n.lhs, s)
        lhs = _expr(n.lhs, s, kind)
        low, high = _expr(n.low, s, kind), _expr(n.high, s, kind)
        return f"({lhs} {'NOT ' if n.not_ else ''}BETWEEN {low} AND {high})"
    if isinstance(n, ast.In):
        kind = _kind(n.lhs, s)
        lhs = _expr(n.lhs, s, kind)
        options = ", ".join(_expr(o, s, kind) for o in n.sub_nodes)
        return f"({lhs} {'NOT ' if n.not_ else ''}IN ({options}))"
    if isinstance(n, ast.IsNull):
        return f"({_expr(n.lhs, s, None)} IS {'NOT ' if n.not_ else ''}NULL)"
    if isinstance(n, ast.Like):
        return _like(n, s)
    if isinstance(n, ast.SpatialComparisonPredicate):
        return _spatial(n.op.value, n.lhs, n.rhs, s)
    if isinstance(n, ast.BBox):
        box = shapely.box(n.minx, n.miny, n.maxx, n.maxy)
        return _spatial("INTERSECTS", n.lhs, values.Geometry(shapely.geometry.mapping(box)), s)
    if isinstance(n, ast.Attribute) and s.columns.get(n.name) == "boolean":
        return f"({_column(n.name, s)} = {s.bind(True if s.dialect == 'postgis' else 1)})"
    if isinstance(n, bool):
        return "1=1" if n else "1=0"
    raise InvalidQuery(f"filter: {_name(n)} is not supported here (supported: comparisons, LIKE, BETWEEN, IN, "
                       "IS NULL, AND/OR/NOT and the S_* spatial predicates)")


def _name(n: Any) -> str:
    if isinstance(n, ast.Function):
        return f"the function {n.name}()"
    if isinstance(n, ast.TemporalPredicate):
        return f"the temporal operator {n.op.value} (use datetime=)"
    return f"'{type(n).__name__}'"


def _column(name: str, s: _Sql) -> str:
    if name not in s.columns:
        raise InvalidQuery(f"filter: unknown property '{name}' (queryables: {', '.join(sorted(s.columns))})")
    return '"' + name.replace('"', '""') + '"'


def _kind(n: Any, s: _Sql) -> str | None:
    if isinstance(n, ast.Attribute):
        _column(n.name, s)
        return s.columns[n.name]
    return None


def _expr(n: Any, s: _Sql, kind: str | None) -> str:
    """A scalar: a column, or a literal bound as the type of the column it is compared with."""
    if isinstance(n, ast.Attribute):
        return _column(n.name, s)
    if isinstance(n, ast.Arithmetic):
        ops = {ast.ArithmeticOp.ADD: "+", ast.ArithmeticOp.SUB: "-", ast.ArithmeticOp.MUL: "*",
               ast.ArithmeticOp.DIV: "/"}
        return f"({_expr(n.lhs, s, 'number')} {ops[n.op]} {_expr(n.rhs, s, 'number')})"
    if isinstance(n, ast.Node | values.Geometry | values.Envelope | list | dict):
        raise InvalidQuery(f"filter: {_name(n)} cannot be compared here")
    return s.bind(_literal(n, kind, s))


def _literal(value: Any, kind: str | None, s: _Sql) -> Any:
    if isinstance(value, values.Interval):
        raise InvalidQuery("filter: an interval can only be used with temporal operators")
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidQuery(f"filter: a {kind} property is compared with {json.dumps(str(value))}, not a number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidQuery(f"filter: a boolean property is compared with {json.dumps(str(value))}")
        return value if s.dialect == "postgis" else int(value)
    if isinstance(value, datetime | date):
        return value if s.dialect == "postgis" and kind != "string" else value.isoformat()
    if kind == "string" and not isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _like(n: ast.Like, s: _Sql) -> str:
    if not isinstance(n.lhs, ast.Attribute):
        raise InvalidQuery("filter: LIKE needs a property on its left")
    column = _column(n.lhs.name, s)
    pattern = str(n.pattern)
    if s.columns[n.lhs.name] != "string":
        column = f"CAST({column} AS TEXT)"
    # CQL2 LIKE: % and _ wildcards, \\ escapes (pygeofilter's text parser reports '.' as singlechar; the
    # standard says '_', which is what both parsers leave in the pattern)
    not_ = "NOT " if n.not_ else ""
    if s.dialect == "sqlite":
        # SQLite's LIKE ignores ASCII case by default; CQL2 LIKE is case-sensitive
        clause = f"({column} {not_}GLOB {s.bind(_glob(pattern))})"
        return clause
    op = "ILIKE" if n.nocase else "LIKE"
    return f"({column} {not_}{op} {s.bind(pattern)} ESCAPE '\\')"


def _glob(pattern: str) -> str:
    """A LIKE pattern (with \\ escapes) as a GLOB pattern: case-sensitive, as CQL2 wants."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(f"[{nxt}]" if nxt in "*?[]" else nxt)
            i += 2
            continue
        out.append({"%": "*", "_": "?"}.get(ch, f"[{ch}]" if ch in "*?[]" else ch))
        i += 1
    return "".join(out)


def _geometry(value: Any) -> Any:
    if isinstance(value, values.Geometry):
        return shapely.geometry.shape(value.geometry)
    if isinstance(value, values.Envelope):
        return shapely.box(value.x1, value.y1, value.x2, value.y2)
    if isinstance(value, dict) and "type" in value:
        return shapely.geometry.shape(value)
    raise InvalidQuery("filter: a spatial predicate needs the geometry property and a geometry literal")


def _spatial(op: str, lhs: Any, rhs: Any, s: _Sql) -> str:
    if op not in SPATIAL_OPS:
        raise InvalidQuery(f"filter: unknown spatial operator {op}")
    if isinstance(rhs, ast.Attribute) and not isinstance(lhs, ast.Attribute):
        lhs, rhs = rhs, lhs
        op = {"WITHIN": "CONTAINS", "CONTAINS": "WITHIN"}.get(op, op)
    if not isinstance(lhs, ast.Attribute) or lhs.name not in (*GEOMETRY_NAMES, s.geom):
        raise InvalidQuery("filter: spatial predicates compare the property 'geometry' with a geometry literal")
    shape = _geometry(rhs)
    if not shape.is_valid:
        raise InvalidQuery("filter: the geometry literal is not valid")
    geom = '"' + s.geom.replace('"', '""') + '"'
    if s.dialect == "sqlite":
        return f"(cql_spatial('{op}', {geom}, {s.bind(shapely.to_wkb(shape))}) = 1)"
    func = {"INTERSECTS": "ST_Intersects", "DISJOINT": "ST_Disjoint", "CONTAINS": "ST_Contains",
            "WITHIN": "ST_Within", "TOUCHES": "ST_Touches", "CROSSES": "ST_Crosses", "OVERLAPS": "ST_Overlaps",
            "EQUALS": "ST_Equals"}[op]
    wkt = s.bind(shapely.to_wkt(shape))
    return f"{func}({geom}, ST_GeomFromText({wkt}, {s.bind(int(s.srid))}))"
