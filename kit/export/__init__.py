"""Exports: reports, register tables, BOM, GraphML, OSCAL."""
