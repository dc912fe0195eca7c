"""A real Docker engine for tests (shared/reference/machine-notes.md section 8).

- `engine.py`: starts a private `dockerd` (data and exec roots in a temp folder, its own socket
  and bridge) and stops it by its PID.
- `standins.py`: stand-ins for the official images we cannot pull here (no Docker Hub), built
  from Debian packages with mmdebstrap, cached as root file system tarballs keyed by their
  recipe, imported into the engine once per run. Contracts: docs/testing.md.
- `recipes/`: the files the stand-ins and the fake upstream image are made of.
- `budgets.py`: figures the Docker tests measure, printed at the end of the run.

The pytest fixtures (`docker_engine`, `standin_images`) live in tests/conftest.py, so one engine
and one set of images serve every test of a run.
"""
