"""TFDS dataset builders: `tfds build tfds_builders/NAME --data_dir=DIR`."""
