"""What ties an address to a host: the kinds of evidence the resolver (:mod:`wormsign.resolve`)
collects, shared with the detections that read its map (:mod:`wormsign.detect.prep`)."""

from __future__ import annotations

#: Evidence the address itself vouches for: the endpoint's own record of its address, a DHCP
#: lease. Names a client gives (WorkstationName, NTLM hostname, ...) can be forged; where
#: they contradict this evidence the conflict is reported and this evidence decides.
AUTHORITATIVE: tuple[str, ...] = ("host.ip", "dhcp-lease", "own-address", "machine-account")
