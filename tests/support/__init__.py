"""Helpers that tests of more than one folder share.

A folder's own helpers live in its ``support.py`` (``tests/webhook/support.py``, ...) and its
fixtures in its ``conftest.py``; what several folders need lives here. Test modules import
helpers from these modules only, never from another test module or a conftest
(tests/test_layout.py checks it).
"""
