"""Applications bundled with fastnet (apps/README.md); each is run with `python -m apps.NAME`."""
