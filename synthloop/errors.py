"""The one base class of user mistakes: the CLI prints it as one line, without a traceback.

Anything a user can get wrong (a config value, a dataset name, a path, a query) raises a subclass
of `UserError` with a message that says what to do. Bugs raise anything else, and keep their
traceback. Importable from every layer: it imports nothing.
"""


class UserError(Exception):
    """A user's mistake, told in one line that says how to fix it."""
