"""The admin console: server-rendered pages under ``/console`` over the same store and engine.

Sign in with the admin key (every app) or an app key (that app only). The key travels once,
in the login form's body; afterwards an HttpOnly, SameSite=Strict cookie holds it encrypted
(see ``session``), so it never appears in a URL or a log line.
"""
