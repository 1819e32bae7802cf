"""Client-facing documents rendered from one data model each to HTML (console) and PDF
(WeasyPrint): the signed monthly inspection record, the quarterly maintenance report, and the
fault analysis report of an emergency ticket."""
