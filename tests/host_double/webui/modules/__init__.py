"""Stand-in for the WebUI's `modules` package (A1111 1.10 / Forge / reForge), for tests only.

`ROOT` is the fake WebUI folder; the host double sets it before any submodule is imported.
"""

ROOT: str = "."
