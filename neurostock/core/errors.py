"""The one error type the CLI turns into a single readable line."""


class NeurostockError(Exception):
    """An expected failure: bad input, a missing file, a refused operation.

    The message is shown to the user as one line, so it must name the thing at
    fault (file, table, column, row id) and, where possible, what to do.
    """
