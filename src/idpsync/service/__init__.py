"""``idpsync serve``: the scheduler, run locks, alerts and metrics behind the web app.

See ``docs/service.md``. The web layer (``idpsync.web``) drives these parts; they know nothing
of HTTP.
"""
