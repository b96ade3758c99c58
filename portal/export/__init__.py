"""Download my data: the export lifecycle, the zip archive and the schema of its data.json."""
