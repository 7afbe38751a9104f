"""The named rules behind :func:`assistant.core.machine.classify`, one module per kind of mail.

``base`` holds the rule record and the categories; ``subjects`` splits a subject into the
anchored pieces the subject rules compare; the tables of phrases (localized prefixes, MTA
subjects) live in their own modules with a source comment per language or product.
"""
