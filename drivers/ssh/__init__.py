"""SSH-managed switches: the shared session layer and the FRR, EOS and NX-OS drivers."""
