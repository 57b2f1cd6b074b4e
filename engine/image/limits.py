"""Format limits a reader enforces before allocating anything a header merely declares."""

# Input channels are the one size no stored array backs (an input projection may hold no
# synapse at all), so it is capped: far above any sensor front end, far below memory limits.
MAX_INPUTS = 2**20
