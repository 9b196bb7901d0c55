"""Automation on one machine: batches (brief files, folders, CSV rows), schedules, webhooks
out, destinations. Every door here (the ``batch``/``schedule`` commands, the ``/v1`` API)
calls these functions, and these call the one library API (:mod:`agents.api`).
"""
