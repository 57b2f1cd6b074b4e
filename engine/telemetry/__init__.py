"""The field loop's observed half: uplinks from the network servers (decoded with the frame
table, engine.frames), a store, and the fleet's status against what the repository says
should run."""
