"""The QA console: a web app for staff (sign-in, calls, review, corrections), served by
``bedside console``. See docs/console.md."""
