"""What every room of the kit uses: typed errors, byte units, atomic files, and the process's
signals and stdout. It imports nothing else of the kit."""
