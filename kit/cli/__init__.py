"""The command line: the typer app (app.py) and the option declarations turned into its parameters."""
