"""The ``eyetest`` command line.  Thin: parse, call library code, print."""
