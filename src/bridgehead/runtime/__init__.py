"""See bridgehead/__init__.py for the layering."""
