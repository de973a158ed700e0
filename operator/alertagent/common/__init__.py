"""Leaf helpers every layer may use: hashing, YAML output, object identity, label and annotation names."""
