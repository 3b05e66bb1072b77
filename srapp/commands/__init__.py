"""The project's commands: each module's `main(argv)` is a top-level script (python trains.py ...) and an installed
console command (srgan-train ...; pyproject.toml [project.scripts])."""
