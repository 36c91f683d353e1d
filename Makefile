# make run   installs what is needed, builds every dataset and serves http://127.0.0.1:8000
# make test  installs what is needed and runs the whole suite (GeoPackage and PostGIS)
SHELL := /bin/bash
.DEFAULT_GOAL := run
VENV := .venv
PY := $(VENV)/bin/python
SITE := $(VENV)/lib/python3.11/site-packages
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := .make
MAPLIBRE := 6.17.0
VENDOR := map_viewer/static/vendor/maplibre-gl
# Chart.js for the budget pages (/budsjett): one self-contained UMD file, no eval (CSP), canvas (MIT)
CHARTJS := 4.5.1
CHARTJS_DIR := map_viewer/static/vendor/chart.js
# axe-core for the accessibility audit (tests/test_a11y.py): test tooling, so outside the served static dir (MPL-2.0)
AXE := 4.14.1
AXE_JS := $(STAMP)/axe-core/axe.min.js
# Debian 12 packages: MapServer (CGI + in-process mapscript for Python 3.11), GDAL tools, PostGIS for the
# PostGIS store and tests, QGIS and Chromium as independent test clients, DejaVu fonts for map legends.
APT_PKGS := python3 python3-venv python3-dev build-essential cgi-mapserver mapserver-bin python3-mapscript \
	gdal-bin postgresql-15 postgresql-15-postgis-3 python3-qgis qgis-providers chromium fonts-dejavu-core \
	ca-certificates wrk redis-server tesseract-ocr tesseract-ocr-nor ghostscript unpaper pgbouncer

.PHONY: run test deps system venv vendor translations messages samples data config check lint bench clean
run: deps data
	@# a demo contractor for the restricted VA map; its password and QGIS key are printed here
	$(VENV)/bin/grunndata users demo
	$(VENV)/bin/grunndata serve

test: deps samples $(STAMP)/test-venv $(AXE_JS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/grunndata config --check
	$(VENV)/bin/pytest -q --durations=25

deps: system venv vendor translations

# apt only when a package is missing, so a second run is fast.
system:
	@dpkg -s $(APT_PKGS) >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PKGS); }

venv: $(STAMP)/venv
$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@# Debian's mapscript is built for this Python; link only it, so pip's numpy is not mixed with Debian's.
	ln -sfn /usr/lib/python3/dist-packages/mapscript $(SITE)/mapscript
	touch $@

$(STAMP)/test-venv: $(STAMP)/venv $(STAMP)/pycsw-venv $(STAMP)/ckan-venv
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# The catalogues the publishers are tested against, each in its own venv (their pins clash with the app's).
$(STAMP)/pycsw-venv:
	@mkdir -p $(STAMP)
	test -x .venv-pycsw/bin/python || /usr/bin/python3 -m venv .venv-pycsw
	.venv-pycsw/bin/pip install -q "pycsw==2.6.2" "sqlalchemy<2"
	touch $@

$(STAMP)/ckan-venv:
	@mkdir -p $(STAMP)
	test -x .venv-ckan/bin/python || /usr/bin/python3 -m venv .venv-ckan
	.venv-ckan/bin/pip install -q "ckan[requirements]==2.12.0"
	touch $@

vendor: $(VENDOR)/maplibre-gl.mjs $(CHARTJS_DIR)/chart.umd.min.js map_viewer/pygeoapi_templates/_base.html
$(CHARTJS_DIR)/chart.umd.min.js:
	@mkdir -p $(CHARTJS_DIR) $(STAMP)/npm-chartjs
	command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q npm; }
	cd $(STAMP)/npm-chartjs && npm pack --silent chart.js@$(CHARTJS) >/dev/null && tar xzf chart.js-$(CHARTJS).tgz
	cp $(STAMP)/npm-chartjs/package/dist/chart.umd.min.js $(STAMP)/npm-chartjs/package/LICENSE.md $(CHARTJS_DIR)/
$(AXE_JS):
	@mkdir -p $(STAMP)/axe-core $(STAMP)/npm-axe
	command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q npm; }
	cd $(STAMP)/npm-axe && npm pack --silent axe-core@$(AXE) >/dev/null && tar xzf axe-core-$(AXE).tgz
	cp $(STAMP)/npm-axe/package/axe.min.js $(STAMP)/npm-axe/package/LICENSE $(STAMP)/axe-core/
$(VENDOR)/maplibre-gl.mjs:
	@mkdir -p $(VENDOR) $(STAMP)/npm
	@# npm: Debian's package on a fresh machine; an existing Node.js install is used as it is.
	command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q npm; }
	cd $(STAMP)/npm && npm pack --silent maplibre-gl@$(MAPLIBRE) >/dev/null && tar xzf maplibre-gl-$(MAPLIBRE).tgz
	cp $(STAMP)/npm/package/dist/{maplibre-gl.mjs,maplibre-gl-shared.mjs,maplibre-gl-worker.mjs,maplibre-gl.css} $(VENDOR)/
	cp $(STAMP)/npm/package/LICENSE.txt $(VENDOR)/

# UI translations (README, Translations): the catalogs (.po, committed) compiled to .mo (build output).
LOCALES := nn nb en
MO := $(LOCALES:%=map_viewer/locale/%/LC_MESSAGES/messages.mo)
translations: $(MO)
map_viewer/locale/%/LC_MESSAGES/messages.mo: map_viewer/locale/%/LC_MESSAGES/messages.po | $(STAMP)/venv
	$(VENV)/bin/pybabel -q compile -l $* -i $< -o $@

# After marking or changing UI strings: extract them again (babel.cfg) and merge the template into every catalog;
# then translate what is new or marked fuzzy in the .po files (tests/test_i18n.py fails until every one is).
messages: $(STAMP)/venv
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k N_ -c TRANSLATORS: --add-location=file --project=grunndata \
		-o map_viewer/locale/messages.pot .
	$(VENV)/bin/pybabel -q update -i map_viewer/locale/messages.pot -d map_viewer/locale

# pygeoapi's HTML pages and the API docs: their CDN scripts vendored from npm, templates pointed at them
# (and _base.html's page chrome translated from the catalogs)
map_viewer/pygeoapi_templates/_base.html: $(STAMP)/venv $(MO) map_viewer/vendor.py
	command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q npm; }
	$(PY) -m map_viewer.vendor

# The seeded Stord sample sources (deterministic; a few seconds).
samples: venv
	$(VENV)/bin/grunndata samples

data: deps samples
	$(VENV)/bin/grunndata build

config: venv
	$(VENV)/bin/grunndata config

lint: $(STAMP)/test-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: deps data
	$(PY) bench/bench_serving.py
	$(PY) bench/bench_sosi.py
	$(PY) bench/bench_plan_search.py
	$(PY) bench/bench_va_wms.py
	$(PY) bench/bench_tiles.py
	$(PY) bench/bench_ocr.py
	@# 200 clients for 5 minutes (plus a 30 s baseline) against ./data: about 6 minutes
	$(PY) bench/bench_load.py --data-dir data

clean:
	rm -rf data $(STAMP) $(VENDOR) $(CHARTJS_DIR) map_viewer/static/vendor/npm map_viewer/pygeoapi_templates .venv-pycsw .venv-ckan $(MO)
