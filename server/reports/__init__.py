"""Client-facing documents rendered from one data model to HTML (console) and PDF (WeasyPrint):
the signed monthly inspection record."""
