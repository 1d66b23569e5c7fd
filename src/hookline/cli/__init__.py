"""The ``hookline`` command line.

``main`` builds the typer app and renders errors; each other module adds one family of
commands through its ``register(app)``: ``run`` (serve, api, worker, migrate) and ``admin``
(tenant, key, event-type). ``options`` turns settings options and the environment into
:class:`~hookline.config.Settings`; ``output`` prints.
"""
