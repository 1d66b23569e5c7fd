"""The HTTP management API (FastAPI): ``hookline.api.app.create_app(services)``."""
