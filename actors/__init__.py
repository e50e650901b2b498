"""pykka actors: thin shells around ``core`` decisions. See DESIGN.md §2."""
