"""Cameos: a person records their likeness once (a short clip answering a server-issued
challenge), and they and the people they allow put it into generated videos.

Here, in accounts, because every app that carries a likeness sits above accounts (generation
renders it, feed shows it) and must be able to point at it; a cameos app of its own would have
to sit between accounts and generation and change the one-way order for one model.

Modules by role: `models`, `consent` (who may use a cameo: read only), `services` (changes),
`hooks` (how higher apps hear that consent changed), `media` (the clip, read with PyAV),
`verification` (pluggable checkers), `apis`/`serializers`/`urls`, `notifications`, `admin`.
"""
