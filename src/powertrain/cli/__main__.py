"""``python -m powertrain.cli`` runs the command line."""

from powertrain.cli import main

if __name__ == "__main__":
    main()
