"""The Python strategies, as they run inside the sandbox: how items are spread over workers.

One module per strategy; which strategies exist, and what each is, is kit/worker/programs.py's registry.
"""
