"""Where export files live: local disk or S3, behind one interface."""
