"""Reproducible training and evaluation of the emotion models from ../shared (``bedside emotion train|eval``)."""
