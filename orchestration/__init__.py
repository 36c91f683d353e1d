"""Orchestration: the layer above the core, pipelines and publishers. It runs a build (read, validate, normalise,
publish atomically, report), pushes catalogue metadata and holds the command line. Nothing below imports it
(import-linter contract in pyproject.toml)."""
