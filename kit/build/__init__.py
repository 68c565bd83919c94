"""Builds: the worker image (image.py), the Go workers on the host (go.py), and whether a program
can run here and how to get it (availability.py).

The controller asks this package; runtimes receive what they need from it (an image name, a
freshness check) through their caller, and import nothing of it.
"""
