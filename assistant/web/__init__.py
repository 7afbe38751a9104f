"""The web page: first run, mailboxes, templates, waiting threads, numbers (Starlette)."""
