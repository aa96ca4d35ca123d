"""Typed pandas frames built from evidence; :mod:`flowforensics.frames.schema` defines them all."""
