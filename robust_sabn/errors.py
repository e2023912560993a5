"""The one exception type for bad user input; the CLI prints its message and exits with 2."""


class UserInputError(ValueError):
    """Bad input from a user: the message names the problem and the fix, in one line."""
