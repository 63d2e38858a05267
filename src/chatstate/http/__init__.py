"""Plain HTTP values and the outbound client port, shared by every layer."""
