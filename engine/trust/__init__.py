"""Authenticity of what ships: DSSE envelopes carrying in-toto statements over a bundle's
files (statement.py), their checks against a bundle folder and its image (check.py), and
key retirement statements for a key rotation (retire.py). docs/trust.md."""
