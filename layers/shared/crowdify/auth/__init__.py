"""Who is calling and what they may do: bearer tokens, users and roles, QR and webhook signatures."""
