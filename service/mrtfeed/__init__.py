"""mrtfeed: public BGP archives (Route Views, RIPE RIS) as a stream of route events.

The package is laid out along the data flow: ``archive`` (where files are) →
``fetch`` (getting them) → ``decode`` (sans-I/O MRT/BGP decoding) → ``filter`` →
``encode`` (bgpdump, bgpscanner, JSON lines) → ``sink`` (stdout, files, Kafka).
"""

__version__ = "0.1.0"
