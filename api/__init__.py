"""WSIS Lens web service: the HTTP API under ``/v1`` and the web page at ``/``.

Start it with ``wsis serve`` (or ``uvicorn api.app:create_app --factory``).
"""
