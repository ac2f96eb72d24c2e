"""The HTTP service (FastAPI) over a store, and the related-articles widget.

Needs ``pip install 'semclust[serve]'``.
"""

from __future__ import annotations

from semclust.server.app import create_app, serve

__all__ = ["create_app", "serve"]
