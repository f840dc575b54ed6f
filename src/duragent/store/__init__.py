"""The embedded SQLite store: internal, not public API.

Nothing here is for application code, and any name in this package may change in any
release: the store is reached through ``Client.connect("sqlite:///...")`` and ``Worker``,
never by importing it. The few names users need are exported from :mod:`duragent` itself,
which is where they are supported: the store errors (``StoreError`` and its subclasses),
``WorkflowStatus`` (``RunStatus`` here) and ``IdConflictPolicy``. The package keeps its
unprefixed name because every layer of Duragent (client, worker, CLI, server) and the tests
import it; renaming it ``_store`` would change no behaviour and touch them all.
"""

__all__: list[str] = []
