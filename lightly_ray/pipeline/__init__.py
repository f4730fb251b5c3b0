"""The data path: listing, decode, (later quality, pretag, crops), embed, and the plan that wires them."""
