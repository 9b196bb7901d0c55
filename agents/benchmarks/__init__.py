"""Benchmarks: measured, labelled evidence for how well signwriter's parts work.

* :mod:`agents.benchmarks.dataset` — a deterministic labelled image set (photographic
  degradations, half the items carrying one injected GLM-Image-style text error).
* :mod:`agents.benchmarks.qa` — ``signwriter bench qa``: catch rates, false rejects (with
  95 % Wilson intervals), time and memory of OCR QA on that set or on a user's folder.
"""
