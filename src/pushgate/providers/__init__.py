"""Platform providers: render messages for a push service and classify its answers.

Import each platform by its module path (``pushgate.providers.apns``, ``.apns_credentials``,
``.apns_jwt``, ...): the platforms share function names such as ``build_payload`` and
``classify``, so this package re-exports nothing. Each module lists its public names in
``__all__``.
"""
