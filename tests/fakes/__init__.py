"""Local fake servers of the outside providers: real HTTP on 127.0.0.1, contracts enforced."""
