"""The read-only REST API over the archive (Django REST framework).

Routes are assembled in ``closerarchive.urls``; the inbound-event endpoint
lives with its model in ``webhooks.api``.
"""
