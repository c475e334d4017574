"""Conformance: the adapters against shapes and answers nobody on this project wrote."""
