"""The review web app (``signwriter serve``): one ASGI app, server-rendered Jinja2 pages
with htmx for the live parts. Every route calls the library API (:mod:`agents.api`) and
the run index; see :mod:`agents.web.app` for the routes and :mod:`agents.web.security` for
sessions, CSRF, roles and headers."""
