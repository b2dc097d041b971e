"""`saikit import {cyclonedx,otm,tmbom} FILE --out system.yaml`: a starter system file from the
files other tools write, with TODO markers for what the source cannot say."""
