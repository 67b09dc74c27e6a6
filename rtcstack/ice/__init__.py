"""ICE: Interactive Connectivity Establishment (RFC 8445) and its TURN client (RFC 8656)."""
