"""Packet captures: a fast pcap/pcapng reader into pandas, and analysis of the packet table."""
