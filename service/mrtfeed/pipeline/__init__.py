"""Glue at the I/O edge: reading files, driving the sans-I/O decoder, worker pools."""
