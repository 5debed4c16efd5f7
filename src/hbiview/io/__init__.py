"""Input and output at the edges of hbiview: DICOM (the only pydicom user), mask files, safe writing."""
