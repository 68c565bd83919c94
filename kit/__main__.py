from kit.cli.exits import main

# Guarded: spawned pool processes import this module as __mp_main__ and must not start the CLI.
if __name__ == "__main__":
    main()
