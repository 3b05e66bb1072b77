"""User-facing errors: entry scripts print them as one line and exit 2, never a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, option, data) that they can fix."""
