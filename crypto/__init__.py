"""The ODK submission encryption format: keys, manifests, decryption. Pure: no Flask, no DB."""
