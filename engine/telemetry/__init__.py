"""The field loop's observed half: the node's uplink frames (one table for the firmware's
encoder, the decoders and the docs), their ingest from the network servers, a store, and
the fleet's status against what the repository says should run.

Importing this package loads nothing heavy: the build stages import `frames` from it."""
