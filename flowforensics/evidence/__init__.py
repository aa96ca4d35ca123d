"""The evidence folder: AWS-shaped JSON files, recognised by content, plus ``manifest.json``."""
