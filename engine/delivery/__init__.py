"""Carrying a bundle's image to its sites over LoRaWAN: fragments with the forward error
correction of the LoRa Alliance's Fragmented Data Block Transport (TS004), multicast groups
per Remote Multicast Setup (TS005), and the airtime, duty-cycle time and node energy each
delivery costs."""
