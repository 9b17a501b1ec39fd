"""``python -m betpipe``: the same CLI as the ``betpipe`` command."""

from betpipe.cli import app

app()
