"""Per-archive readers: one item of an archive (a PTB-XL database row, a MUSE
file, a CODE-15% exam, ...) -> EcgRecord and its vocabulary labels.

numpy only, picklable, shared by the TFDS builders' plain and Beam paths."""
