"""A minimal in-memory stand-in for Solr, only so a real CKAN 2.12 can run in the tests.

CKAN indexes every package synchronously in Solr, and no Solr server is available in the reachable
package registries. This answers what CKAN's package create/update/show/delete path asks of Solr:
the schema (CKAN's own schema.xml, for its version check), /update (XML or JSON add/delete/commit)
and /select (all documents, filtered by simple `field:"value"` clauses). It does NOT rank or really
search: tests must not assert anything about CKAN search results through it.
Usage: python tests/solr_standin.py PORT SCHEMA_XML
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

DOCS: dict[str, dict] = {}
LOCK = threading.Lock()
CLAUSE = re.compile(r'[+]?(\w+):"?([^"\s)]+)"?')


def _matches(doc: dict, query: str) -> bool:
    for field, value in CLAUSE.findall(query or ""):
        if field in ("q", "text") or value == "*":
            continue
        have = doc.get(field)
        values = have if isinstance(have, list) else [have]
        if str(value) not in [str(v) for v in values]:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    schema = b""

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _select(self, params: dict[str, list[str]]) -> None:
        queries = params.get("q", []) + params.get("fq", [])
        with LOCK:
            found = [d for d in DOCS.values() if all(_matches(d, q) for q in queries)]
        start, rows = int(params.get("start", ["0"])[0]), int(params.get("rows", ["10"])[0])
        body = {"responseHeader": {"status": 0, "QTime": 0},
                "response": {"numFound": len(found), "start": start, "docs": found[start:start + rows]}}
        self._send(json.dumps(body).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urlparse(self.path)
        url = url._replace(path=url.path.rstrip("/"))  # pysolr asks for "select/", "update/"
        if url.path.endswith("/schema") or url.path.endswith("/admin/file"):
            self._send(self.schema, "application/xml")
        elif url.path.endswith("/select"):
            self._select(parse_qs(url.query))
        elif url.path.endswith("/admin/ping"):
            self._send(b'{"status": "OK"}')
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        url = url._replace(path=url.path.rstrip("/"))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path.endswith("/select"):
            self._select({**parse_qs(url.query), **parse_qs(body.decode())})
            return
        if not url.path.endswith("/update"):
            self.send_error(404)
            return
        if body.strip().startswith(b"<"):
            root = ElementTree.fromstring(body)
            with LOCK:
                for doc in root.iter("doc"):
                    fields: dict[str, object] = {}
                    for f in doc.iter("field"):
                        name, value = f.get("name"), f.text or ""
                        if name in fields:
                            prev = fields[name]
                            fields[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
                        else:
                            fields[name] = value
                    DOCS[str(fields.get("id"))] = fields
                for d in root.iter("delete"):
                    for i in d.iter("id"):
                        DOCS.pop(i.text or "", None)
                    for q in d.iter("query"):
                        for key in [k for k, v in DOCS.items() if _matches(v, q.text or "")]:
                            DOCS.pop(key)
        elif body.strip():
            data = json.loads(body)
            with LOCK:
                for doc in data if isinstance(data, list) else data.get("add", []):
                    doc = doc.get("doc", doc)
                    DOCS[str(doc.get("id"))] = doc
        self._send(b'{"responseHeader": {"status": 0, "QTime": 0}}')


def main() -> None:
    port, schema = int(sys.argv[1]), sys.argv[2]
    Handler.schema = open(schema, "rb").read()
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
