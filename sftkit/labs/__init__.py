"""Labs: small non-language-model settings where a method's idea can be seen whole (FrozenLake for IFT)."""
