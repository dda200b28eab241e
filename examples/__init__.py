"""Programs that show Firebreak at work; not part of the installed package."""
