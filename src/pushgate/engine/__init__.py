"""Who gets a notification and whether it can be rendered for their platforms."""
