"""Mail adapters: IMAP (imapclient) for sync and IDLE, SMTP (aiosmtplib) for sending. Thin."""
