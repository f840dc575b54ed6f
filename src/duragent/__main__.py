"""``python -m duragent``: the ``duragent`` command."""

from duragent.cli import main

if __name__ == "__main__":
    main()
