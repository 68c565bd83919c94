"""The plan: the options (declared once), the validated run config, the cells to run, and the
inputs (generated or the user's), judged before any timing."""
