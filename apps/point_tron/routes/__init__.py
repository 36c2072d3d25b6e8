"""Point-Tron's HTTP routes, one module per area (auth, blocks, config, system, health, pages).

Each module exposes ``routes: list[BaseRoute]``; :func:`point_tron.app.create_app` mounts them.
"""
